"""The stage's SIEM bucket: the OCSF stream of sealed audit events (docs/siem.md).

``<siem_bucket_prefix>-<region>``: public access blocked, bucket owner enforced, SSE-S3 (the records hold
identifiers, actions, times and hashes, no personal value; a KMS data key would have to be shared with
every SIEM that reads), TLS-only, versioned (an object is written once; a version appears only by hand),
server access logs to the stage's access-log bucket. Lifecycle: objects move to Standard-IA after
``SIEM_INFREQUENT_DAYS``, expire after ``SIEM_EXPIRY_DAYS`` (a SIEM ingests within minutes; the trail
itself, not this copy, is the record kept for the law's retention); noncurrent versions go after a day.
"""

from __future__ import annotations

from deploy.render.common import Resource, tags
from deploy.stages import Stage

SIEM_EXPIRY_DAYS = 400
SIEM_INFREQUENT_DAYS = 30
PREFIX = "ext/"
"""Every stream object is under ``ext/<source>/`` (the Security Lake custom-source layout)."""


def siem_bucket_name(stage: Stage) -> str:
    return stage.settings.siem_bucket


def siem_resources(stage: Stage) -> dict[str, Resource]:
    """The SIEM bucket and its TLS-only policy."""
    name = siem_bucket_name(stage)
    bucket: Resource = {
        "Type": "AWS::S3::Bucket",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": {
            "BucketName": name,
            "BucketEncryption": {"ServerSideEncryptionConfiguration": [
                {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}]},
            "PublicAccessBlockConfiguration": {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                               "IgnorePublicAcls": True, "RestrictPublicBuckets": True},
            "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
            "VersioningConfiguration": {"Status": "Enabled"},
            "LifecycleConfiguration": {"Rules": [
                {"Id": "age-stream-objects", "Status": "Enabled", "Prefix": PREFIX,
                 "Transitions": [{"StorageClass": "STANDARD_IA", "TransitionInDays": SIEM_INFREQUENT_DAYS}],
                 "ExpirationInDays": SIEM_EXPIRY_DAYS,
                 "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
                 "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}},
                {"Id": "remove-expired-delete-markers", "Status": "Enabled", "ExpiredObjectDeleteMarker": True},
            ]},
            "LoggingConfiguration": {"DestinationBucketName": {"Ref": "AccessLogBucket"},
                                     "LogFilePrefix": f"{name}/"},
            "Tags": tags(stage.name),
        },
    }
    arns = [{"Fn::GetAtt": ["SiemBucket", "Arn"]}, {"Fn::Sub": "${SiemBucket.Arn}/*"}]
    policy: Resource = {
        "Type": "AWS::S3::BucketPolicy",
        "Properties": {
            "Bucket": {"Ref": "SiemBucket"},
            "PolicyDocument": {"Version": "2012-10-17", "Statement": [
                {"Sid": "DenyPlainHttp", "Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": arns,
                 "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
                {"Sid": "DenyOldTls", "Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": arns,
                 "Condition": {"NumericLessThan": {"s3:TlsVersion": "1.2"}}},
            ]},
        },
    }
    return {"SiemBucket": bucket, "SiemBucketPolicy": policy}


def access_log_statement(stage: Stage) -> dict[str, object]:
    """The access-log bucket's grant for the SIEM bucket's server access logs."""
    name = siem_bucket_name(stage)
    return {"Sid": "ServerAccessLogsOfTheSiemBucket", "Effect": "Allow",
            "Principal": {"Service": "logging.s3.amazonaws.com"}, "Action": "s3:PutObject",
            "Resource": {"Fn::Sub": f"${{AccessLogBucket.Arn}}/{name}/*"},
            "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{name}"},
                          "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}}
