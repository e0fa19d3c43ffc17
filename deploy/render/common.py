"""What every part of a stage's template shares: names, constants, checkov skips, tags and ARNs.

``SKIPS`` holds the findings of ``checkov`` that do not apply, each with its reason; a resource
skips them in ``Metadata.checkov.skip`` through ``skips(...)``. The constants here are the ones
other code names (``EXPORT_EXPIRY_DAYS`` is the application's export lifetime too; tests read
``ALIAS_NAME``, ``NOT_FOUND_BODY`` and ``SKIPS``), re-exported by ``deploy.render``.
"""

from __future__ import annotations

from typing import Any

from deploy.console import SKIPS as GLOBAL_ENTRY_SKIPS

Resource = dict[str, Any]
Template = dict[str, Any]

EXPORT_EXPIRY_DAYS = 7
"""Exports are short-lived copies: the presigned URL lasts minutes, the object a week at most."""
ACCESS_LOG_EXPIRY_DAYS = 400
LOG_RETENTION_DAYS = 365
ALIAS_NAME = "live"
"""The alias API Gateway invokes; provisioned concurrency is configured on it."""
RUNTIME = "python3.12"  # SnapStart for Python needs 3.12+; package with the same Python (see deploy/README.md)
METRICS_NAMESPACE = "Enclave"
AUDIT_FAILURE_METRIC = "AuditWriteFailures"
KEY_FAILURE_METRIC = "KeyFailures"
"""Emitted by ``chalicelib.services.keys.tenant_keys`` (embedded metric format) on every key or ciphertext failure."""
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
# Only checks that actually fire are listed (tests/integration/deploy/test_deploy.py fails on a skip that is not
# needed).
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

