"""The CloudFormation resources of one production stage, merged by ``chalice package --merge-template``.

``render_resources(stage)`` returns the template for that stage's region; ``python -m deploy.render
STAGE OUT.json`` writes it (``make package`` does, then runs ``chalice package``). For a region that
only holds replicas (ap-southeast-4, us-east-2, us-west-2: no stage runs there),
``python -m deploy.render --key-region REGION OUT.json`` writes the small template of its
``alias/enclave-data`` key, which encrypts the replicas there.

What a stage's template holds (README "Deploying" explains each):

* **KMS**: the regional data key (``alias/enclave-data``, rotation on), the ECC_NIST_P256 audit
  signing key (``alias/enclave-audit-signing``) and an operations key (``alias/enclave-ops``: log
  groups, alarm topic). Key policies give cryptographic use to the stage's function roles only,
  and only with the tenant-key encryption context, through S3 for the export bucket, or for
  ECDSA_SHA_256 signing; DynamoDB may use the data key on the account's behalf (``kms:ViaService``)
  for the tables' server-side encryption. The account root keeps key administration, not use.
* **DynamoDB**: the regional idempotency table; the data and audit global tables of each
  jurisdiction homed in this region, replicated to exactly ``residency.home_region`` +
  ``residency.replica_regions`` of ``policies/jurisdictions/<CODE>.json``; in ``prod-use1`` only
  (``deploy.stages.DIRECTORY_STAGE``) the tenant directory global table, replicated to the four
  home regions. Key schemas come from ``deploy/tables.py``. Every table: point-in-time recovery,
  deletion protection, SSE with the region's data key, ``DeletionPolicy: Retain``.
* **S3**: the export bucket ``<export_bucket_prefix>-<region>`` (public access blocked, SSE-KMS with
  the data key, TLS-only policy, versioning, exports expire after ``EXPORT_EXPIRY_DAYS``) and its
  server-access-log bucket.
* **Cognito**: the regional user pool with the five role groups and an immutable
  ``custom:tenant_id``, the API's app client (no secret; SRP and the hosted UI's authorization code
  flow with the console's origin as the only callback; no USER_PASSWORD_AUTH) and the hosted UI domain.
* **Operations**: log groups with retention, alarms on API 5xx, Lambda errors and throttles and the
  application's ``AuditWriteFailures`` metric, an encrypted SNS topic they notify.
* **Changes to Chalice's own resources** (the merge is a deep dict merge): function names, reserved
  concurrency, provisioned concurrency on a ``live`` alias that API Gateway invokes, a regional (not
  edge) endpoint so requests terminate in the region, access logs, tracing, and a gateway response
  turning API Gateway's ``MISSING_AUTHENTICATION_TOKEN`` (its answer for an unknown route) into 404
  ``{"error": {"code": "not_found", ...}}``.

Findings of ``checkov`` that do not apply are skipped per resource in ``Metadata.checkov.skip``,
each with its reason (``SKIPS`` below).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from chalicelib.adapters.cognito_admin import CLIENT_NAME, POOL_NAME, ROLE_GROUPS
from chalicelib.domain.crypto import tenant_key_context
from chalicelib.services.edge_routes import SYNC_FAILURE_METRIC
from chalicelib.settings import REGIONS
from deploy.appmodel import API_HANDLER, AppModel, Function, load_app_model
from deploy.console import SKIPS as GLOBAL_ENTRY_SKIPS
from deploy.console import global_entry_resources
from deploy.iam import SIGNING_ALGORITHM, export_context
from deploy.sequencer import add_stream_sources
from deploy.stages import Stage, key_only_regions, load_stage, replica_regions
from deploy.tables import AUDIT, DATA, DIRECTORY, IDEMPOTENCY, KEYS, TableDef, create_table_kwargs

Resource = dict[str, Any]
Template = dict[str, Any]

EXPORT_EXPIRY_DAYS = 7
"""Exports are short-lived copies: the presigned URL lasts minutes, the object a week at most."""
ACCESS_LOG_EXPIRY_DAYS = 400
LOG_RETENTION_DAYS = 365
ALIAS_NAME = "live"
RUNTIME = "python3.12"  # SnapStart for Python needs 3.12+; package with the same Python (see deploy/README.md)
"""The alias API Gateway invokes; provisioned concurrency is configured on it."""
METRICS_NAMESPACE = "Enclave"
AUDIT_FAILURE_METRIC = "AuditWriteFailures"
KEY_FAILURE_METRIC = "KeyFailures"
"""Emitted by ``chalicelib.services.keys`` (embedded metric format) on every key or ciphertext failure."""
METRICS_SERVICE = "enclave"
"""Powertools' ``service`` dimension: ``Metrics(namespace="Enclave", service="enclave")``."""
NOT_FOUND_BODY = '{"error":{"code":"not_found","message":"no such route"}}'
OPS_KEY_ALIAS = "alias/enclave-ops"

PARTITION_ROOT = {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}

KEY_ADMIN_ACTIONS = [
    # Administration, never use: no Encrypt/Decrypt/GenerateDataKey/Sign here. No DisableKeyRotation.
    "kms:CancelKeyDeletion", "kms:CreateAlias", "kms:DeleteAlias", "kms:DescribeKey", "kms:DisableKey",
    "kms:EnableKey", "kms:EnableKeyRotation", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus",
    "kms:ListAliases", "kms:ListGrants", "kms:ListKeyPolicies", "kms:ListResourceTags", "kms:PutKeyPolicy",
    "kms:RevokeGrant", "kms:RotateKeyOnDemand", "kms:ScheduleKeyDeletion", "kms:TagResource",
    "kms:UntagResource", "kms:UpdateAlias", "kms:UpdateKeyDescription",
]
SSE_ACTIONS = [
    "kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncryptFrom", "kms:ReEncryptTo",
]

# The checkov findings that do not apply, by check id; the reason goes into the resource's Metadata.
# Only checks that actually fire are listed (tests/test_deploy.py fails on a skip that is not needed).
SKIPS: dict[str, str] = {
    "CKV_AWS_117": "Not in a VPC: the function reaches only AWS regional endpoints (DynamoDB, KMS, S3) and "
                   "Cognito's JWKS over TLS; a VPC would add NAT or endpoints without narrowing any data path.",
    "CKV_AWS_116": "No DLQ: the API function is invoked synchronously by API Gateway (a DLQ only catches "
                   "asynchronous invocations); scheduled sweeps are idempotent and rerun on the next schedule.",
    "CKV_AWS_173": "Environment variables hold no secrets (region names, endpoints, pool and client ids); "
                   "Lambda encrypts them at rest with its service key.",
    "CKV_AWS_18": "This is the server-access-log bucket itself; logging it into itself would loop.",
    "CKV_AWS_120": "No API cache: responses are per principal and tenant; a shared cache could serve one "
                   "tenant's response to another.",
    "CKV_AWS_165": "The key table has no point-in-time recovery on purpose: erasing a learner deletes its key "
                   "here, and a restorable copy would bring that key back. Durability comes from the replicas "
                   "in the jurisdiction's other regions and deletion protection; losing it shreds the tenant.",
    **GLOBAL_ENTRY_SKIPS,
}


def skips(*check_ids: str) -> dict[str, Any]:
    return {"checkov": {"skip": [{"id": check, "comment": SKIPS[check]} for check in check_ids]}}


def tags(stage: str) -> list[dict[str, str]]:
    return [{"Key": "app", "Value": "enclave"}, {"Key": "stage", "Value": stage}]


def alias_arn(region: str, alias: str) -> dict[str, str]:
    return {"Fn::Sub": f"arn:${{AWS::Partition}}:kms:{region}:${{AWS::AccountId}}:{alias}"}


# ---------------------------------------------------------------------------------------------- KMS


def admin_statement() -> dict[str, Any]:
    return {"Sid": "KeyAdministrationByTheAccount", "Effect": "Allow", "Principal": {"AWS": PARTITION_ROOT},
            "Action": KEY_ADMIN_ACTIONS, "Resource": "*"}


def dynamodb_sse_statement(region: str) -> dict[str, Any]:
    return {
        "Sid": "TableEncryptionThroughDynamoDB",
        "Effect": "Allow",
        "Principal": {"AWS": PARTITION_ROOT},
        "Action": SSE_ACTIONS,
        "Resource": "*",
        "Condition": {"StringEquals": {"kms:ViaService": f"dynamodb.{region}.amazonaws.com",
                                       "kms:CallerAccount": {"Ref": "AWS::AccountId"}}},
    }


def role_principals(app: AppModel) -> dict[str, Any]:
    return {"AWS": [{"Fn::GetAtt": [role, "Arn"]} for role in app.role_logical_ids]}


def tenant_context_condition() -> dict[str, Any]:
    sample = tenant_key_context("tenant", 1)
    fixed = {f"kms:EncryptionContext:{k}": v for k, v in sample.items() if k not in ("tenant_id", "key_version")}
    condition: dict[str, Any] = {
        "ForAllValues:StringEquals": {"kms:EncryptionContextKeys": sorted(sample)},
        "Null": {"kms:EncryptionContext:tenant_id": "false", "kms:EncryptionContext:key_version": "false"},
    }
    if fixed:
        condition["StringEquals"] = fixed
    return condition


def kms_resources(stage: Stage, app: AppModel) -> dict[str, Resource]:
    region = stage.region
    principals = role_principals(app)
    data_key: Resource = {
        "Type": "AWS::KMS::Key",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": {
            "Description": f"Enclave {stage.name}: tenant keys (envelope encryption), table and export SSE",
            "KeySpec": "SYMMETRIC_DEFAULT",
            "KeyUsage": "ENCRYPT_DECRYPT",
            "EnableKeyRotation": True,
            "PendingWindowInDays": 30,
            "Tags": tags(stage.name),
            "KeyPolicy": {
                "Version": "2012-10-17",
                "Statement": [
                    admin_statement(),
                    {
                        "Sid": "TenantKeysForTheFunctionsOnly",
                        "Effect": "Allow",
                        "Principal": principals,
                        "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                        "Resource": "*",
                        "Condition": tenant_context_condition(),
                    },
                    {
                        "Sid": "ExportObjectsThroughS3",
                        "Effect": "Allow",
                        "Principal": principals,
                        "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                        "Resource": "*",
                        "Condition": {
                            "StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"},
                            "StringLike": {"kms:EncryptionContext:aws:s3:arn": export_context(stage.export_bucket)},
                        },
                    },
                    dynamodb_sse_statement(region),
                ],
            },
        },
    }
    signing_key: Resource = {
        "Type": "AWS::KMS::Key",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": {
            "Description": f"Enclave {stage.name}: signs audit-trail checkpoints (verified offline)",
            "KeySpec": "ECC_NIST_P256",
            "KeyUsage": "SIGN_VERIFY",
            "PendingWindowInDays": 30,
            "Tags": tags(stage.name),
            "KeyPolicy": {
                "Version": "2012-10-17",
                "Statement": [
                    admin_statement(),
                    {
                        "Sid": "SignCheckpointsFunctionsOnly",
                        "Effect": "Allow",
                        "Principal": principals,
                        "Action": ["kms:Sign"],
                        "Resource": "*",
                        "Condition": {"StringEquals": {"kms:SigningAlgorithm": SIGNING_ALGORITHM,
                                                       "kms:MessageType": "RAW"}},
                    },
                    {
                        "Sid": "PublicKeyForVerifiers",
                        "Effect": "Allow",
                        "Principal": {"AWS": [PARTITION_ROOT, *principals["AWS"]]},
                        "Action": ["kms:GetPublicKey"],
                        "Resource": "*",
                    },
                ],
            },
        },
    }
    log_group_arns = [
        {"Fn::Sub": f"arn:${{AWS::Partition}}:logs:{region}:${{AWS::AccountId}}:log-group:{prefix}*"}
        for prefix in (f"/aws/lambda/enclave-{stage.name}", f"/aws/apigateway/enclave-{stage.name}")
    ]
    ops_key: Resource = {
        "Type": "AWS::KMS::Key",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": {
            "Description": f"Enclave {stage.name}: log groups and the alarm topic (no personal data)",
            "KeySpec": "SYMMETRIC_DEFAULT",
            "KeyUsage": "ENCRYPT_DECRYPT",
            "EnableKeyRotation": True,
            "PendingWindowInDays": 30,
            "Tags": tags(stage.name),
            "KeyPolicy": {
                "Version": "2012-10-17",
                "Statement": [
                    admin_statement(),
                    {
                        "Sid": "LogGroupsOfThisStage",
                        "Effect": "Allow",
                        "Principal": {"Service": f"logs.{region}.amazonaws.com"},
                        "Action": ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey",
                                   "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncryptFrom", "kms:ReEncryptTo"],
                        "Resource": "*",
                        "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": log_group_arns}},
                    },
                    {
                        "Sid": "AlarmNotificationsFromCloudWatch",
                        "Effect": "Allow",
                        "Principal": {"Service": "cloudwatch.amazonaws.com"},
                        "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                        "Resource": "*",
                        "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
                    },
                ],
            },
        },
    }
    return {
        "DataKey": data_key,
        "DataKeyAlias": {"Type": "AWS::KMS::Alias",
                         "Properties": {"AliasName": stage.settings.kms_key_alias, "TargetKeyId": {"Ref": "DataKey"}}},
        "SigningKey": signing_key,
        "SigningKeyAlias": {"Type": "AWS::KMS::Alias",
                            "Properties": {"AliasName": stage.settings.signing_key_alias,
                                           "TargetKeyId": {"Ref": "SigningKey"}}},
        "OpsKey": ops_key,
        "OpsKeyAlias": {"Type": "AWS::KMS::Alias",
                        "Properties": {"AliasName": OPS_KEY_ALIAS, "TargetKeyId": {"Ref": "OpsKey"}}},
    }


# ----------------------------------------------------------------------------------------- DynamoDB


def _table_shape(table: TableDef, jurisdiction: str | None) -> dict[str, Any]:
    """KeySchema, attributes and indexes exactly as ``deploy.tables`` defines them."""
    shape = create_table_kwargs(table, jurisdiction)
    if table.stream_view:
        shape["StreamSpecification"] = {"StreamViewType": table.stream_view}
    if table.ttl_attribute:
        shape["TimeToLiveSpecification"] = {"AttributeName": table.ttl_attribute, "Enabled": True}
    return shape


def global_table(stage: Stage, table: TableDef, regions: list[str], jurisdiction: str | None) -> Resource:
    """One ``AWS::DynamoDB::GlobalTable``; a replica outside this region uses that region's data key alias."""
    alias = stage.settings.kms_key_alias
    replicas = []
    for region in regions:
        key = {"Fn::GetAtt": ["DataKey", "Arn"]} if region == stage.region else alias_arn(region, alias)
        # erasure receipts promise ``backups_expire_by`` from this same setting; the key table has none
        # (a key erasure destroyed must not come back), its durability is the replicas and deletion protection
        pitr: dict[str, Any] = ({"PointInTimeRecoveryEnabled": True,
                                 "RecoveryPeriodInDays": stage.settings.recovery_window_days}
                                if table.point_in_time_recovery else {"PointInTimeRecoveryEnabled": False})
        replicas.append({
            "Region": region,
            "PointInTimeRecoverySpecification": pitr,
            "DeletionProtectionEnabled": True,
            "SSESpecification": {"KMSMasterKeyId": key},
            "Tags": tags(stage.name),
        })
    properties = _table_shape(table, jurisdiction)
    properties.update({
        "SSESpecification": {"SSEEnabled": True, "SSEType": "KMS"},
        "StreamSpecification": {"StreamViewType": "NEW_AND_OLD_IMAGES"},
        "Replicas": replicas,
    })
    residency: dict[str, Any] = {"Replicas": regions, "PersonalData": table.holds_personal_data}
    if jurisdiction:
        residency["Jurisdiction"] = jurisdiction
        residency["Source"] = f"policies/jurisdictions/{jurisdiction}.json"
    else:
        residency["Source"] = "chalicelib.settings.REGIONS"
    metadata: dict[str, Any] = {"Enclave": {"Residency": residency}}
    if not table.point_in_time_recovery:
        metadata.update(skips("CKV_AWS_165"))
    return {
        "Type": "AWS::DynamoDB::GlobalTable",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "DependsOn": ["DataKeyAlias"],
        "Metadata": metadata,
        "Properties": properties,
    }


def table_resources(stage: Stage) -> dict[str, Resource]:
    idempotency = _table_shape(IDEMPOTENCY, None)
    idempotency.update({
        "SSESpecification": {"SSEEnabled": True, "SSEType": "KMS",
                             "KMSMasterKeyId": {"Fn::GetAtt": ["DataKey", "Arn"]}},
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        "DeletionProtectionEnabled": True,
        "Tags": tags(stage.name),
    })
    resources: dict[str, Resource] = {
        IDEMPOTENCY.logical_name: {
            "Type": "AWS::DynamoDB::Table",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": idempotency,
        },
    }
    if stage.owns_directory:
        resources[DIRECTORY.logical_name] = global_table(stage, DIRECTORY, list(REGIONS), None)
    for policy in stage.home_jurisdictions():
        regions = replica_regions(policy)
        for table in (DATA, KEYS, AUDIT):
            resources[f"{table.logical_name}{policy.code}"] = global_table(stage, table, regions, policy.code)
    return resources


# ----------------------------------------------------------------------------------------------- S3


def _deny_insecure_transport(bucket_ref: str) -> list[dict[str, Any]]:
    arns = [{"Fn::GetAtt": [bucket_ref, "Arn"]}, {"Fn::Sub": f"${{{bucket_ref}.Arn}}/*"}]
    return [
        {"Sid": "DenyPlainHttp", "Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": arns,
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
        {"Sid": "DenyOldTls", "Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": arns,
         "Condition": {"NumericLessThan": {"s3:TlsVersion": "1.2"}}},
    ]


def bucket_resources(stage: Stage) -> dict[str, Resource]:
    block_public = {"BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True,
                    "RestrictPublicBuckets": True}
    owner_enforced = {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    export_bucket: Resource = {
        "Type": "AWS::S3::Bucket",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": {
            "BucketName": stage.export_bucket,
            "BucketEncryption": {"ServerSideEncryptionConfiguration": [{
                "ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms",
                                                  "KMSMasterKeyID": {"Fn::GetAtt": ["DataKey", "Arn"]}},
                "BucketKeyEnabled": True,
            }]},
            "PublicAccessBlockConfiguration": block_public,
            "OwnershipControls": owner_enforced,
            "VersioningConfiguration": {"Status": "Enabled"},
            "LifecycleConfiguration": {"Rules": [
                {"Id": "expire-exports", "Status": "Enabled", "ExpirationInDays": EXPORT_EXPIRY_DAYS,
                 "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
                 "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}},
                {"Id": "remove-expired-delete-markers", "Status": "Enabled", "ExpiredObjectDeleteMarker": True},
            ]},
            "LoggingConfiguration": {"DestinationBucketName": {"Ref": "AccessLogBucket"},
                                     "LogFilePrefix": f"{stage.export_bucket}/"},
            "Tags": tags(stage.name),
        },
    }
    export_policy: Resource = {
        "Type": "AWS::S3::BucketPolicy",
        "Properties": {
            "Bucket": {"Ref": "ExportBucket"},
            "PolicyDocument": {"Version": "2012-10-17", "Statement": [
                *_deny_insecure_transport("ExportBucket"),
                {"Sid": "DenyOtherEncryption", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
                 "Resource": {"Fn::Sub": "${ExportBucket.Arn}/*"},
                 "Condition": {"StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption": "aws:kms"}}},
                {"Sid": "DenyOtherKeys", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
                 "Resource": {"Fn::Sub": "${ExportBucket.Arn}/*"},
                 # The header as the client sends it: the application names the key by its alias.
                 "Condition": {"StringNotEqualsIfExists": {"s3:x-amz-server-side-encryption-aws-kms-key-id": [
                     {"Fn::GetAtt": ["DataKey", "Arn"]}, stage.settings.kms_key_alias,
                     alias_arn(stage.region, stage.settings.kms_key_alias)]}}},
            ]},
        },
    }
    log_bucket: Resource = {
        "Type": "AWS::S3::Bucket",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Metadata": skips("CKV_AWS_18"),
        "Properties": {
            "BucketName": stage.access_log_bucket,
            "BucketEncryption": {"ServerSideEncryptionConfiguration": [
                {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
            "PublicAccessBlockConfiguration": block_public,
            "OwnershipControls": owner_enforced,
            "VersioningConfiguration": {"Status": "Enabled"},
            "LifecycleConfiguration": {"Rules": [
                {"Id": "expire-access-logs", "Status": "Enabled", "ExpirationInDays": ACCESS_LOG_EXPIRY_DAYS,
                 "NoncurrentVersionExpiration": {"NoncurrentDays": 1}},
            ]},
            "Tags": tags(stage.name),
        },
    }
    log_policy: Resource = {
        "Type": "AWS::S3::BucketPolicy",
        "Properties": {
            "Bucket": {"Ref": "AccessLogBucket"},
            "PolicyDocument": {"Version": "2012-10-17", "Statement": [
                *_deny_insecure_transport("AccessLogBucket"),
                {"Sid": "ServerAccessLogsOfTheExportBucket", "Effect": "Allow",
                 "Principal": {"Service": "logging.s3.amazonaws.com"}, "Action": "s3:PutObject",
                 "Resource": {"Fn::Sub": f"${{AccessLogBucket.Arn}}/{stage.export_bucket}/*"},
                 "Condition": {
                     "ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{stage.export_bucket}"},
                     "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
                 }},
            ]},
        },
    }
    return {"ExportBucket": export_bucket, "ExportBucketPolicy": export_policy,
            "AccessLogBucket": log_bucket, "AccessLogBucketPolicy": log_policy}


# ------------------------------------------------------------------------------------------ Cognito


def console_origin(stage: Stage) -> str:
    """The console's origin from the stage config: the hosted UI's only callback."""
    if not stage.settings.console_origin:
        raise ValueError(f"stage {stage.name}: ENCLAVE_CONSOLE_ORIGIN is not set")
    return stage.settings.console_origin


def hosted_ui_prefix(stage: Stage) -> str:
    """The hosted UI's domain prefix, from the stage's pool ``domain`` (``https://<prefix>.auth.<region>...``)."""
    pool = stage.settings.cognito_pools.get(stage.region)
    suffix = f".auth.{stage.region}.amazoncognito.com"
    host = (pool.domain or "").removeprefix("https://") if pool else ""
    if not host.endswith(suffix):
        raise ValueError(f"stage {stage.name}: the pool's domain must be https://<prefix>{suffix}")
    return host.removesuffix(suffix)


def cognito_resources(stage: Stage) -> dict[str, Resource]:
    resources: dict[str, Resource] = {
        "UserPool": {
            "Type": "AWS::Cognito::UserPool",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "UserPoolName": POOL_NAME.format(region=stage.region),
                "DeletionProtection": "ACTIVE",
                "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": True},
                "UsernameConfiguration": {"CaseSensitive": False},
                "MfaConfiguration": "OPTIONAL",
                "EnabledMfas": ["SOFTWARE_TOKEN_MFA"],
                "AccountRecoverySetting": {"RecoveryMechanisms": [{"Name": "verified_email", "Priority": 1}]},
                "Policies": {"PasswordPolicy": {
                    "MinimumLength": 12, "RequireLowercase": True, "RequireUppercase": True,
                    "RequireNumbers": True, "RequireSymbols": True, "TemporaryPasswordValidityDays": 3,
                }},
                # Immutable: set once when an admin creates the user, so no later attribute update (by
                # the user or an admin) can move an account into another tenant.
                "Schema": [{"Name": "tenant_id", "AttributeDataType": "String", "Mutable": False,
                            "StringAttributeConstraints": {"MinLength": "1", "MaxLength": "64"}}],
                "UserPoolTags": {"app": "enclave", "stage": stage.name},
            },
        },
        "UserPoolClient": {
            "Type": "AWS::Cognito::UserPoolClient",
            "Properties": {
                "UserPoolId": {"Ref": "UserPool"},
                "ClientName": CLIENT_NAME,
                "GenerateSecret": False,
                # No USER_PASSWORD_AUTH in AWS: users sign in on the hosted UI (authorization code + PKCE);
                # the password flow is the local platform's (the emulator has no hosted UI).
                "ExplicitAuthFlows": ["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
                "AllowedOAuthFlowsUserPoolClient": True,
                "AllowedOAuthFlows": ["code"],
                "AllowedOAuthScopes": ["openid", "email"],
                "SupportedIdentityProviders": ["COGNITO"],
                "CallbackURLs": [f"{console_origin(stage)}/"],
                "LogoutURLs": [f"{console_origin(stage)}/"],
                "PreventUserExistenceErrors": "ENABLED",
                "EnableTokenRevocation": True,
                "IdTokenValidity": 60,
                "AccessTokenValidity": 60,
                "RefreshTokenValidity": 12,
                "TokenValidityUnits": {"IdToken": "minutes", "AccessToken": "minutes", "RefreshToken": "hours"},
                "ReadAttributes": ["custom:tenant_id", "email", "email_verified"],
                "WriteAttributes": ["email"],
            },
        },
    }
    resources["UserPoolDomain"] = {
        "Type": "AWS::Cognito::UserPoolDomain",
        "Properties": {"UserPoolId": {"Ref": "UserPool"}, "Domain": hosted_ui_prefix(stage)},
    }
    for precedence, group in enumerate(ROLE_GROUPS):
        logical = "Group" + "".join(part.capitalize() for part in group.split("_"))
        resources[logical] = {
            "Type": "AWS::Cognito::UserPoolGroup",
            "Properties": {"UserPoolId": {"Ref": "UserPool"}, "GroupName": group,
                           "Description": f"Enclave role {group}", "Precedence": precedence * 10},
        }
    return resources


# ------------------------------------------------------------------------------ Lambda, API, alarms


def log_group(name: str | dict[str, Any]) -> Resource:
    return {
        "Type": "AWS::Logs::LogGroup",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": {"LogGroupName": name, "RetentionInDays": LOG_RETENTION_DAYS,
                       "KmsKeyId": {"Fn::GetAtt": ["OpsKey", "Arn"]}},
    }


def alarm(description: str, namespace: str, metric: str, dimensions: list[dict[str, Any]], threshold: int,
          periods: int = 1, datapoints: int = 1) -> Resource:
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmDescription": description,
            "Namespace": namespace,
            "MetricName": metric,
            "Dimensions": dimensions,
            "Statistic": "Sum",
            "Period": 60,
            "EvaluationPeriods": periods,
            "DatapointsToAlarm": datapoints,
            "Threshold": threshold,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": "notBreaching",
            "AlarmActions": [{"Ref": "AlarmTopic"}],
            "OKActions": [{"Ref": "AlarmTopic"}],
        },
    }


def function_resources(stage: Stage, app: AppModel) -> dict[str, Resource]:
    """Log groups, alarms and the merged-in settings of every Chalice function."""
    resources: dict[str, Resource] = {}
    for function in app.functions:
        log_id = f"{function.logical_id}LogGroup"
        resources[log_id] = log_group(f"/aws/lambda/{function.function_name}")
        resources[function.logical_id] = _function_override(stage, function, log_id)
        dims = [{"Name": "FunctionName", "Value": {"Ref": function.logical_id}}]
        resources[f"{function.logical_id}ErrorsAlarm"] = alarm(
            f"{function.function_name}: 5 or more errors within 5 minutes", "AWS/Lambda", "Errors", dims,
            threshold=5, periods=5, datapoints=1)
        resources[f"{function.logical_id}ThrottlesAlarm"] = alarm(
            f"{function.function_name}: throttled (reserved concurrency reached)", "AWS/Lambda", "Throttles",
            dims, threshold=1)
    resources["AuditWriteFailuresAlarm"] = alarm(
        "An audit event could not be written: the change it records was refused or must be investigated",
        METRICS_NAMESPACE, AUDIT_FAILURE_METRIC, [{"Name": "service", "Value": METRICS_SERVICE}], threshold=1)
    resources["AuditEventsMissingAlarm"] = alarm(
        "A pending audit event vanished before the sequencer sealed it (someone deleted an audit item)",
        METRICS_NAMESPACE, "AuditEventsMissing", [{"Name": "service", "Value": METRICS_SERVICE}], threshold=1)
    resources["AuditEventsAlteredAlarm"] = alarm(
        "An audit event was changed outside the sequencer before or after it was sealed (someone rewrote an "
        "audit item); the chain names it in an audit.event_altered event",
        METRICS_NAMESPACE, "AuditEventsAltered", [{"Name": "service", "Value": METRICS_SERVICE}], threshold=1)
    resources["KeyFailuresAlarm"] = alarm(
        "A tenant key or ciphertext failed (missing key, KMS access denied, failed authentication)",
        METRICS_NAMESPACE, KEY_FAILURE_METRIC, [{"Name": "service", "Value": METRICS_SERVICE}], threshold=1)
    resources["EdgeRouteSyncAlarm"] = alarm(
        "A tenant's route in the global entry's KeyValueStore could not be updated: the hourly reconciliation "
        "repairs it (python -m chalicelib.cli edge reconcile does it now)",
        METRICS_NAMESPACE, SYNC_FAILURE_METRIC, [{"Name": "service", "Value": METRICS_SERVICE}], threshold=1)
    resources["AlarmTopic"] = {
        "Type": "AWS::SNS::Topic",
        "Properties": {"TopicName": f"enclave-{stage.name}-alarms", "KmsMasterKeyId": {"Ref": "OpsKey"},
                       "Tags": tags(stage.name)},
    }
    return resources


def _function_override(stage: Stage, function: Function, log_id: str) -> Resource:
    properties: dict[str, Any] = {"FunctionName": function.function_name, "Runtime": RUNTIME}
    if function.is_api_handler:
        properties.update({"ReservedConcurrentExecutions": stage.capacity.reserved, "AutoPublishAlias": ALIAS_NAME})
        if stage.capacity.snapstart:  # Lambda refuses SnapStart and provisioned concurrency on one version
            properties["SnapStart"] = {"ApplyOn": "PublishedVersions"}
        else:
            properties["ProvisionedConcurrencyConfig"] = {
                "ProvisionedConcurrentExecutions": stage.capacity.provisioned}
    else:
        properties["ReservedConcurrentExecutions"] = stage.capacity.background_reserved
    return {
        "DependsOn": [log_id],
        "Metadata": skips("CKV_AWS_117", "CKV_AWS_116", "CKV_AWS_173"),
        "Properties": properties,
    }


def api_resources(stage: Stage, app: AppModel) -> dict[str, Resource]:
    """Overrides of Chalice's ``RestAPI`` and its invoke permission, and the API's alarm and logs.

    Every route's integration invokes the ``live`` alias (SAM names it ``APIHandlerAliaslive``; SAM
    resolves ``APIHandler.Alias`` in ``Ref`` but not inside the swagger's ``Fn::Sub``), so requests use
    the provisioned concurrency.
    """
    if not app.routes:
        return {}
    alias_uri = {"Fn::Sub": "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/"
                            f"${{{API_HANDLER}Alias{ALIAS_NAME}}}/invocations"}
    paths: dict[str, dict[str, Any]] = {}
    for path, method in app.routes:
        paths.setdefault(path, {})[method] = {"x-amazon-apigateway-integration": {"uri": alias_uri}}
    access_format = json.dumps({
        "requestId": "$context.requestId", "time": "$context.requestTimeEpoch", "method": "$context.httpMethod",
        "resource": "$context.resourcePath", "status": "$context.status", "bytes": "$context.responseLength",
        "latencyMs": "$context.responseLatency", "integrationStatus": "$context.integrationStatus",
        "error": "$context.error.responseType",
    }, separators=(",", ":"))
    return {
        "RestAPI": {
            "DependsOn": ["ApiGatewayAccount"],
            "Metadata": skips("CKV_AWS_120"),
            "Properties": {
                # Regional, not edge-optimised: TLS terminates in this region, not at CloudFront edges.
                "EndpointConfiguration": "REGIONAL",
                "TracingEnabled": True,
                "AccessLogSetting": {"DestinationArn": {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]},
                                     "Format": access_format},
                "MethodSettings": [{"ResourcePath": "/*", "HttpMethod": "*", "MetricsEnabled": True,
                                    "LoggingLevel": "ERROR", "DataTraceEnabled": False}],
                "DefinitionBody": {
                    "paths": paths,
                    "x-amazon-apigateway-gateway-responses": {
                        # API Gateway answers an unknown route with 403 MISSING_AUTHENTICATION_TOKEN.
                        "MISSING_AUTHENTICATION_TOKEN": {
                            "statusCode": "404",
                            "responseTemplates": {"application/json": NOT_FOUND_BODY},
                        },
                    },
                },
            },
        },
        "APIHandlerInvokePermission": {"Properties": {"FunctionName": {"Ref": f"{API_HANDLER}.Alias"}}},
        "ApiAccessLogGroup": log_group(f"/aws/apigateway/enclave-{stage.name}-access"),
        "ApiGatewayCloudWatchRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                    "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
                }]},
                "ManagedPolicyArns": [
                    {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/"
                                "AmazonAPIGatewayPushToCloudWatchLogs"}],
            },
        },
        "ApiGatewayAccount": {
            "Type": "AWS::ApiGateway::Account",
            "Properties": {"CloudWatchRoleArn": {"Fn::GetAtt": ["ApiGatewayCloudWatchRole", "Arn"]}},
        },
        "Api5xxAlarm": alarm(
            f"enclave {stage.name}: 5 or more 5xx answers in 3 of 5 minutes", "AWS/ApiGateway", "5XXError",
            [{"Name": "ApiName", "Value": stage.app_name}, {"Name": "Stage", "Value": stage.api_gateway_stage}],
            threshold=5, periods=5, datapoints=3),
    }


# ----------------------------------------------------------------------------------------- templates


def outputs(stage: Stage) -> dict[str, Any]:
    values: dict[str, Any] = {
        "UserPoolId": {"Ref": "UserPool"},
        "UserPoolClientId": {"Ref": "UserPoolClient"},
        "DataKeyArn": {"Fn::GetAtt": ["DataKey", "Arn"]},
        "SigningKeyArn": {"Fn::GetAtt": ["SigningKey", "Arn"]},
        "ExportBucketName": {"Ref": "ExportBucket"},
        "AlarmTopicArn": {"Ref": "AlarmTopic"},
    }
    return {name: {"Value": value} for name, value in values.items()}


def render_resources(stage_name: str, app: AppModel | None = None) -> Template:
    """The merge template of a production stage (``app``: Chalice's resources, loaded when not given)."""
    stage = load_stage(stage_name)
    model = app if app is not None else load_app_model(stage_name)
    resources: dict[str, Resource] = {}
    for part in (kms_resources(stage, model), table_resources(stage), bucket_resources(stage),
                 cognito_resources(stage), function_resources(stage, model), api_resources(stage, model),
                 global_entry_resources(stage)):
        overlap = resources.keys() & part.keys()
        if overlap:
            raise ValueError(f"logical ids defined twice: {sorted(overlap)}")
        resources.update(part)
    add_stream_sources(stage, model, resources)
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"Enclave {stage_name} ({stage.region}): data, keys, exports, identity, alarms",
        "Resources": resources,
        "Outputs": outputs(stage),
    }


def render_key_region(region: str) -> Template:
    """The template of a replica-only region: its ``alias/enclave-data`` key for the replicas' SSE."""
    if region not in key_only_regions():
        raise ValueError(f"{region} holds no replica without a stage (those are: {', '.join(key_only_regions())})")
    alias = load_stage("prod-use1").settings.kms_key_alias
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"Enclave replica region {region}: the key that encrypts the table replicas here",
        "Resources": {
            "DataKey": {
                "Type": "AWS::KMS::Key",
                "DeletionPolicy": "Retain",
                "UpdateReplacePolicy": "Retain",
                "Properties": {
                    "Description": f"Enclave {region}: SSE of the DynamoDB replicas (no direct use)",
                    "KeySpec": "SYMMETRIC_DEFAULT",
                    "KeyUsage": "ENCRYPT_DECRYPT",
                    "EnableKeyRotation": True,
                    "PendingWindowInDays": 30,
                    "Tags": [{"Key": "app", "Value": "enclave"}, {"Key": "region-role", "Value": "replica"}],
                    "KeyPolicy": {"Version": "2012-10-17",
                                  "Statement": [admin_statement(), dynamodb_sse_statement(region)]},
                },
            },
            "DataKeyAlias": {"Type": "AWS::KMS::Alias",
                             "Properties": {"AliasName": alias, "TargetKeyId": {"Ref": "DataKey"}}},
        },
        "Outputs": {"DataKeyArn": {"Value": {"Fn::GetAtt": ["DataKey", "Arn"]}}},
    }


def write(template: Template, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(template, indent=2) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Render the merge template of a stage (or a replica key region)")
    parser.add_argument("stage", nargs="?", help="a production stage, e.g. prod-euw2")
    parser.add_argument("out", type=Path, help="where to write the template (JSON)")
    parser.add_argument("--key-region", help="render the key template of a replica-only region instead")
    args = parser.parse_args(argv)
    if args.key_region:
        write(render_key_region(args.key_region), args.out)
    elif args.stage:
        if sys.version_info < (3, 12):
            print(f"warning: the template says {RUNTIME} but this Python is {sys.version_info.major}."
                  f"{sys.version_info.minor}: package with {RUNTIME[6:]} so the wheels match the runtime",
                  file=sys.stderr)
        write(render_resources(args.stage), args.out)
    else:
        parser.error("name a stage or --key-region")
    return 0


if __name__ == "__main__":
    sys.exit(main())
