"""The KMS keys of a stage and their key policies.

The regional data key (``alias/enclave-data``, rotation on), the ECC_NIST_P256 audit signing key
(``alias/enclave-audit-signing``) and an operations key (``alias/enclave-ops``: log groups, alarm
topic). Key policies give cryptographic use to the stage's function roles only, and only with the
tenant-key encryption context, through S3 for the export bucket, or for ECDSA_SHA_256 signing;
DynamoDB may use the data key on the account's behalf (``kms:ViaService``) for the tables'
server-side encryption. The account root keeps key administration, not use (``admin_statement``
and ``dynamodb_sse_statement`` also make up the key of a replica-only region).
"""

from __future__ import annotations

from typing import Any

from chalicelib.domain.crypto import tenant_key_context
from chalicelib.domain.webhooks import secret_context
from deploy.appmodel import AppModel
from deploy.iam import SIGNING_ALGORITHM, export_context
from deploy.render.common import KEY_ADMIN_ACTIONS, OPS_KEY_ALIAS, PARTITION_ROOT, SSE_ACTIONS, Resource, tags
from deploy.stages import Stage


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


def kms_key(description: str, key_tags: list[dict[str, str]], statements: list[dict[str, Any]],
            signing: bool = False) -> Resource:
    """A retained customer-managed key: symmetric with yearly rotation, or (``signing``) ECC_NIST_P256 for
    signatures; the account root administers it (``admin_statement``), ``statements`` grant its use."""
    properties: dict[str, Any] = {"Description": description}
    if signing:
        properties.update({"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"})
    else:
        properties.update({"KeySpec": "SYMMETRIC_DEFAULT", "KeyUsage": "ENCRYPT_DECRYPT", "EnableKeyRotation": True})
    properties.update({"PendingWindowInDays": 30, "Tags": key_tags,
                       "KeyPolicy": {"Version": "2012-10-17", "Statement": [admin_statement(), *statements]}})
    return {"Type": "AWS::KMS::Key", "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain",
            "Properties": properties}


def kms_resources(stage: Stage, app: AppModel) -> dict[str, Resource]:
    region = stage.region
    principals = role_principals(app)
    data_key = kms_key(
        f"Enclave {stage.name}: tenant keys (envelope encryption), table and export SSE", tags(stage.name), [
        {
            "Sid": "TenantKeysForTheFunctionsOnly",
            "Effect": "Allow",
            "Principal": principals,
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": "*",
            "Condition": tenant_context_condition(),
        },
        {
            "Sid": "WebhookSecretsForTheFunctionsOnly",
            "Effect": "Allow",
            "Principal": principals,
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": "*",
            "Condition": {"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": sorted(secret_context("t", "w"))},
                          "StringEquals": {"kms:EncryptionContext:purpose": "webhook-secret"}},
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
    ])
    signing_key = kms_key(
        f"Enclave {stage.name}: signs audit-trail checkpoints (verified offline)", tags(stage.name), [
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
            # DescribeKey: the sealer asks which key the alias names before signing (the key history)
            "Action": ["kms:DescribeKey", "kms:GetPublicKey"],
            "Resource": "*",
        },
    ], signing=True)
    log_group_arns = [
        {"Fn::Sub": f"arn:${{AWS::Partition}}:logs:{region}:${{AWS::AccountId}}:log-group:{prefix}*"}
        for prefix in (f"/aws/lambda/enclave-{stage.name}", f"/aws/apigateway/enclave-{stage.name}")
    ]
    ops_key = kms_key(
        f"Enclave {stage.name}: log groups and the alarm topic (no personal data)", tags(stage.name), [
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
        {
            # the bulk-import queues (identifiers only): the export bucket sends its upload events
            "Sid": "ImportUploadEventsFromS3",
            "Effect": "Allow",
            "Principal": {"Service": "s3.amazonaws.com"},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
        },
        {
            "Sid": "ImportQueueForTheFunctions",
            "Effect": "Allow",
            "Principal": principals,
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": "*",
            "Condition": {"StringEquals": {"kms:ViaService": f"sqs.{region}.amazonaws.com"}},
        },
    ])
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
