"""The stage's DynamoDB tables and S3 buckets: where its data lives and where exports go.

* **DynamoDB**: the regional idempotency table; the data and audit global tables of each
  jurisdiction homed in this region, replicated to exactly ``residency.home_region`` +
  ``residency.replica_regions`` of ``policies/jurisdictions/<CODE>.json``; in ``prod-use1`` only
  (``deploy.stages.DIRECTORY_STAGE``) the tenant directory global table, replicated to the four
  home regions. Key schemas come from ``deploy/tables.py``. Every table: point-in-time recovery,
  deletion protection, SSE with the region's data key, ``DeletionPolicy: Retain``.
* **S3**: the export bucket ``<export_bucket_prefix>-<region>`` (public access blocked, SSE-KMS with
  the data key, TLS-only policy, versioning, exports expire after ``EXPORT_EXPIRY_DAYS``), the witness
  bucket ``<witness_bucket_prefix>-<region>`` of signed tree heads (Object Lock in compliance mode, by
  default for the home jurisdictions' shortest audit retention, the sealer setting each head's own;
  public access blocked, SSE-S3: heads are hashes and signatures, no personal data; TLS-only, versioned,
  never expiring) and the server-access-log bucket of both.
"""

from __future__ import annotations

from typing import Any

from chalicelib.settings import REGIONS
from deploy.render.common import ACCESS_LOG_EXPIRY_DAYS, EXPORT_EXPIRY_DAYS, Resource, alias_arn, skips, tags
from deploy.render.siem import access_log_statement, siem_resources
from deploy.stages import Stage, replica_regions
from deploy.tables import AUDIT, DATA, DIRECTORY, IDEMPOTENCY, KEYS, TableDef, create_table_kwargs

WITNESS_DEFAULT_RETENTION_DAYS = 2555
"""A stage with no home jurisdiction still locks what it witnesses (seven years)."""

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
        "StreamSpecification": {"StreamViewType": table.stream_view or "NEW_AND_OLD_IMAGES"},
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
                {"Sid": "ServerAccessLogsOfTheWitnessBucket", "Effect": "Allow",
                 "Principal": {"Service": "logging.s3.amazonaws.com"}, "Action": "s3:PutObject",
                 "Resource": {"Fn::Sub": f"${{AccessLogBucket.Arn}}/{stage.witness_bucket}/*"},
                 "Condition": {
                     "ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{stage.witness_bucket}"},
                     "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
                 }},
                access_log_statement(stage),
            ]},
        },
    }
    return {"ExportBucket": export_bucket, "ExportBucketPolicy": export_policy,
            "AccessLogBucket": log_bucket, "AccessLogBucketPolicy": log_policy, **witness_resources(stage),
            **siem_resources(stage)}


def witness_retention_days(stage: Stage) -> int:
    """The bucket's default lock: the shortest audit retention of the stage's home jurisdictions."""
    days = [policy.retention.audit.days for policy in stage.home_jurisdictions()]
    return min(days) if days else WITNESS_DEFAULT_RETENTION_DAYS


def witness_resources(stage: Stage) -> dict[str, Resource]:
    """The witness bucket of signed tree heads and its TLS-only policy."""
    bucket: Resource = {
        "Type": "AWS::S3::Bucket",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": {
            "BucketName": stage.witness_bucket,
            "ObjectLockEnabled": True,
            "ObjectLockConfiguration": {"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {
                "Mode": "COMPLIANCE", "Days": witness_retention_days(stage)}}},
            "BucketEncryption": {"ServerSideEncryptionConfiguration": [
                {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}]},
            "PublicAccessBlockConfiguration": {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                               "IgnorePublicAcls": True, "RestrictPublicBuckets": True},
            "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
            "VersioningConfiguration": {"Status": "Enabled"},
            "LoggingConfiguration": {"DestinationBucketName": {"Ref": "AccessLogBucket"},
                                     "LogFilePrefix": f"{stage.witness_bucket}/"},
            "Tags": tags(stage.name),
        },
    }
    policy: Resource = {
        "Type": "AWS::S3::BucketPolicy",
        "Properties": {
            "Bucket": {"Ref": "WitnessBucket"},
            "PolicyDocument": {"Version": "2012-10-17", "Statement": _deny_insecure_transport("WitnessBucket")},
        },
    }
    return {"WitnessBucket": bucket, "WitnessBucketPolicy": policy}

