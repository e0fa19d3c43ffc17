"""The least-privilege IAM policy of each production stage, written to ``.chalice/policy-<stage>.json``.

Chalice reads ``iam_policy_file`` as static JSON (``autogen_policy: false``), for ``chalice package``
and ``chalice deploy`` alike. This module is where those files are written by hand, statement by
statement; ``python -m deploy.iam`` regenerates them and ``python -m deploy.iam --check`` (run by
``tests/integration/deploy/test_deploy.py``) fails when a committed file differs from what this module says.

Rules every statement follows:

* explicit actions only, never ``*`` or ``service:*``;
* resources in this stage's region only, named by the table, bucket, log group or key alias the
  function uses (names from ``Settings``, home jurisdictions from ``policies/jurisdictions``);
* KMS: the data key only with the tenant-key encryption context (the same keys and ``purpose``
  value as ``chalicelib.domain.crypto.tenant_key_context``), or through S3 / DynamoDB
  (``kms:ViaService``) for the bucket's and the tables' server-side encryption; the signing key only
  for ECDSA_SHA_256 signatures of RAW messages. Keys are matched by alias (``kms:ResourceAliases``), since key ids are
  only known after deployment.

**The account id.** A static file cannot name the account, so ARNs use ``*`` in the account field
(``arn:aws:dynamodb:eu-west-2:*:table/enclave-directory``). Region and resource name stay exact, and
a principal can only reach another account's resource if that account's resource policy also grants
it; for S3, whose ARNs carry no account and whose bucket names are global (someone else could own
``enclave-exports-eu-west-2``), every statement also requires ``s3:ResourceAccount`` to equal the
role's own account (``${aws:PrincipalAccount}``). parliament and checkov accept these patterns.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any

from chalicelib.domain.crypto import tenant_key_context
from chalicelib.domain.webhooks import secret_context
from deploy.stages import PROJECT_ROOT, load_stage, prod_stages

Statement = dict[str, Any]

SIGNING_ALGORITHM = "ECDSA_SHA_256"

TABLE_ACTIONS: dict[str, list[str]] = {
    # Exactly the operations the table adapters perform (``missing_grants`` checks the code against
    # this): add an action here when an adapter starts using it, then run ``python -m deploy.iam``.
    # Scan: the daily retention sweep lists the tenants homed in its region (a filter on home_region).
    # UpdateItem: offboarding tombstones a tenant's entry.
    "TenantDirectory": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Scan", "dynamodb:UpdateItem"],
    "IdempotencyRecords": ["dynamodb:GetItem", "dynamodb:PutItem"],
    # UpdateItem: lifting a restriction of processing removes the mark from a profile; hold markers; a lifted hold.
    # GetItem: a recorded incident by its id.
    # BatchGetItem: a profile is read with its key (two tables, one request).
    "HomeJurisdictionPersonalData": ["dynamodb:BatchGetItem", "dynamodb:ConditionCheckItem", "dynamodb:DeleteItem",
                                     "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"],
    # The key table: no Scan and no backups (CreateBackup/RestoreTable* are never granted, and
    # ``DenyKeyTableBackups`` forbids them explicitly). BatchGetItem reads a profile with its key.
    "HomeJurisdictionKeys": ["dynamodb:BatchGetItem", "dynamodb:ConditionCheckItem", "dynamodb:DeleteItem",
                             "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"],
    # Append-only: no DeleteItem. UpdateItem moves a tenant's chain head forward.
    # BatchGetItem: the sequencer looks up the markers of the events a stream batch names, 100 a call.
    "HomeJurisdictionAuditTrail": ["dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query",
                                   "dynamodb:UpdateItem"],
}
STREAM_ACTIONS = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"]
"""What an event source mapping on a known stream ARN reads; ListStreams has no resource-level form (it
would need ``"*"``) and the mapping names its stream."""


def _tenant_key_context_condition() -> dict[str, Any]:
    """Exactly the encryption context the application sends with GenerateDataKey and Decrypt."""
    sample = tenant_key_context("tenant", 1)
    condition: dict[str, Any] = {
        "ForAllValues:StringEquals": {"kms:EncryptionContextKeys": sorted(sample)},
        "Null": {"kms:EncryptionContext:tenant_id": "false", "kms:EncryptionContext:key_version": "false"},
    }
    fixed = {key: value for key, value in sample.items() if key not in ("tenant_id", "key_version")}
    if fixed:
        condition["StringEquals"] = {f"kms:EncryptionContext:{key}": value for key, value in fixed.items()}
    return condition


def export_context(bucket: str) -> list[str]:
    """The ``aws:s3:arn`` encryption contexts S3 uses for the bucket's objects."""
    return [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]


def render_policy(stage_name: str) -> dict[str, Any]:
    """The IAM policy document of every function role of ``stage_name``."""
    stage = load_stage(stage_name)
    region = stage.region
    settings = stage.settings
    table_arn = f"arn:aws:dynamodb:{region}:*:table/{{}}"
    key_arn = f"arn:aws:kms:{region}:*:key/*"
    homes = stage.home_jurisdictions()
    data_tables = [f"{settings.data_table_prefix}-{policy.code.lower()}" for policy in homes]
    audit_tables = [f"{settings.audit_table_prefix}-{policy.code.lower()}" for policy in homes]
    key_tables = [settings.key_table(policy.code) for policy in homes]

    statements: list[Statement] = [
        {
            "Sid": "WriteOwnLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            # The log groups are created (with retention and encryption) by the stage's template.
            "Resource": [f"arn:aws:logs:{region}:*:log-group:/aws/lambda/enclave-{stage.name}*:*"],
        },
        {
            "Sid": "TenantDirectory",
            "Effect": "Allow",
            "Action": TABLE_ACTIONS["TenantDirectory"],
            "Resource": [table_arn.format(settings.directory_table)],
        },
        {
            "Sid": "IdempotencyRecords",
            "Effect": "Allow",
            "Action": TABLE_ACTIONS["IdempotencyRecords"],
            "Resource": [table_arn.format(settings.idempotency_table)],
        },
    ]
    if data_tables:
        # Only the tables of the jurisdictions homed in this region: the replicas of other regions'
        # tables are never touched by this deployment (it answers 421 with the home endpoint instead).
        statements.append({
            "Sid": "HomeJurisdictionPersonalData",
            "Effect": "Allow",
            "Action": TABLE_ACTIONS["HomeJurisdictionPersonalData"],
            "Resource": sorted([table_arn.format(name) for name in data_tables]
                               + [table_arn.format(name) + "/index/*" for name in data_tables]),
        })
        statements.append({
            "Sid": "HomeJurisdictionKeys",
            "Effect": "Allow",
            "Action": TABLE_ACTIONS["HomeJurisdictionKeys"],
            "Resource": sorted(table_arn.format(name) for name in key_tables),
        })
        statements.append({
            # on-demand backups of a key table would bring erased keys back: forbidden whoever asks
            "Sid": "DenyKeyTableBackups",
            "Effect": "Deny",
            "Action": ["dynamodb:CreateBackup", "dynamodb:RestoreTableFromBackup",
                       "dynamodb:RestoreTableToPointInTime", "dynamodb:ExportTableToPointInTime",
                       "dynamodb:UpdateContinuousBackups"],
            "Resource": sorted(table_arn.format(name) for name in key_tables),
        })
        statements.append({
            "Sid": "HomeJurisdictionAuditTrail",
            "Effect": "Allow",
            "Action": TABLE_ACTIONS["HomeJurisdictionAuditTrail"],
            "Resource": sorted([table_arn.format(name) for name in audit_tables]
                               + [table_arn.format(name) + "/index/*" for name in audit_tables]),
        })
        statements.append({
            "Sid": "AuditStreamForTheSequencer",
            "Effect": "Allow",
            # Lambda's event source mapping reads the home audit tables' streams with the function's role.
            "Action": STREAM_ACTIONS,
            "Resource": sorted(table_arn.format(name) + "/stream/*" for name in audit_tables),
        })
    statements += [
        {
            "Sid": "DataKeyTenantKeys",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": [key_arn],
            "Condition": {
                **_tenant_key_context_condition(),
                "ForAnyValue:StringEquals": {"kms:ResourceAliases": [settings.kms_key_alias]},
            },
        },
        {
            "Sid": "DataKeyThroughDynamoDB",
            "Effect": "Allow",
            # Server-side encryption of the tables with the customer key, on this role's behalf.
            "Action": ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"],
            "Resource": [key_arn],
            "Condition": {
                "StringEquals": {"kms:ViaService": f"dynamodb.{region}.amazonaws.com"},
                "ForAnyValue:StringEquals": {"kms:ResourceAliases": [settings.kms_key_alias]},
            },
        },
        {
            "Sid": "DataKeyThroughS3Exports",
            "Effect": "Allow",
            # SSE-KMS of export objects: GenerateDataKey to write, Decrypt to complete a multipart
            # upload and to serve presigned GETs. The context is the bucket's ARN with the bucket key
            # on, the object's ARN without it.
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": [key_arn],
            "Condition": {
                "StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"},
                "StringLike": {"kms:EncryptionContext:aws:s3:arn": export_context(stage.export_bucket)},
                "ForAnyValue:StringEquals": {"kms:ResourceAliases": [settings.kms_key_alias]},
            },
        },
        {
            "Sid": "AuditCheckpointSigning",
            "Effect": "Allow",
            # Checkpoints are signed as RAW messages; verification happens offline with the public key.
            "Action": ["kms:Sign"],
            "Resource": [key_arn],
            "Condition": {
                "StringEquals": {"kms:SigningAlgorithm": SIGNING_ALGORITHM, "kms:MessageType": "RAW"},
                "ForAnyValue:StringEquals": {"kms:ResourceAliases": [settings.signing_key_alias]},
            },
        },
        {
            "Sid": "AuditCheckpointPublicKey",
            "Effect": "Allow",
            # Exported with the audit trail so that verification needs no AWS access; DescribeKey tells
            # which key the alias names now (recorded in the published key history on first use).
            "Action": ["kms:DescribeKey", "kms:GetPublicKey"],
            "Resource": [key_arn],
            "Condition": {
                "ForAnyValue:StringEquals": {"kms:ResourceAliases": [settings.signing_key_alias]},
            },
        },
        {
            "Sid": "AuditExports",
            "Effect": "Allow",
            # Large exports are written here and handed out as short-lived presigned GET URLs.
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": [f"arn:aws:s3:::{stage.export_bucket}/*"],
            "Condition": {"StringEquals": {"s3:ResourceAccount": "${aws:PrincipalAccount}"}},
        },
        {
            "Sid": "AuditWitness",
            "Effect": "Allow",
            # Each signed tree head is written once, locked in compliance mode for the audit retention
            # (PutObjectRetention: the object's own retain-until date). No read, no delete.
            "Action": ["s3:PutObject", "s3:PutObjectRetention"],
            "Resource": [f"arn:aws:s3:::{stage.witness_bucket}/heads/*"],
            "Condition": {"StringEquals": {"s3:ResourceAccount": "${aws:PrincipalAccount}"}},
        },
        {
            "Sid": "DomainEventBus",
            "Effect": "Allow",
            # Domain events (ids and dates only) to the region's own bus; no other bus, no rule management.
            "Action": ["events:PutEvents"],
            "Resource": [f"arn:aws:events:{region}:*:event-bus/{settings.event_bus}"],
        },
        {
            "Sid": "WebhookSecretKeys",
            "Effect": "Allow",
            # Webhook signing secrets are sealed with data keys of the region's data key, bound to tenant
            # and endpoint; the context's purpose is pinned, so these grants never open a tenant key.
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": [key_arn],
            "Condition": {
                "ForAllValues:StringEquals": {"kms:EncryptionContextKeys": sorted(secret_context("t", "w"))},
                "StringEquals": {"kms:EncryptionContext:purpose": secret_context("t", "w")["purpose"]},
                "ForAnyValue:StringEquals": {"kms:ResourceAliases": [settings.kms_key_alias]},
            },
        },
        {
            "Sid": "SiemStream",
            "Effect": "Allow",
            # The OCSF stream: each object written once (If-None-Match), under ext/ only. No read, no delete.
            "Action": ["s3:PutObject"],
            "Resource": [f"arn:aws:s3:::{settings.siem_bucket}/ext/*"],
            "Condition": {"StringEquals": {"s3:ResourceAccount": "${aws:PrincipalAccount}"}},
        },
    ]
    pool = settings.cognito_pools.get(region)
    if pool is not None:
        statements.append({
            "Sid": "AlertRecipients",
            "Effect": "Allow",
            # The hourly alerts job lists the members of the groups that act on alerts (regional admins,
            # compliance officers, tenant admins) in this region's pool; no other Cognito call.
            "Action": ["cognito-idp:ListUsersInGroup"],
            "Resource": [f"arn:aws:cognito-idp:{region}:*:userpool/{pool.pool_id}"],
        })
    statements.append({
        "Sid": "AlertMail",
        "Effect": "Allow",
        # Alert e-mails from the stage's sender address only, through its SES identity in this region.
        "Action": ["ses:SendEmail"],
        "Resource": [f"arn:aws:ses:{region}:*:identity/{settings.alert_domain}"],
        "Condition": {"StringEquals": {"ses:FromAddress": settings.alert_sender}},
    })
    statements += _import_statements(stage.export_bucket, region, settings.import_queue)
    if settings.edge_kvs_arn:
        statements.append({
            "Sid": "EdgeRoutingTable",
            "Effect": "Allow",
            # The global entry's KeyValueStore (tenant id -> home region): onboarding puts, offboarding
            # deletes, the hourly reconciliation lists and batches. Only the store named in the stage config.
            "Action": EDGE_ACTIONS,
            "Resource": [edge_store_arn(settings.edge_kvs_arn)],
        })
    return {"Version": "2012-10-17", "Statement": statements}


def _import_statements(bucket: str, region: str, queue: str) -> list[Statement]:
    """Bulk imports: the uploaded files under ``imports/`` (presigned PUT, read, every version deleted) and
    the worker's queue (its event source mapping receives; the worker sends its chunks)."""
    from deploy.render.common import OPS_KEY_ALIAS

    queues = [f"arn:aws:sqs:{region}:*:{queue}"]
    return [
        {
            "Sid": "BulkImportFiles",
            "Effect": "Allow",
            "Action": ["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:GetObject", "s3:PutObject"],
            "Resource": [f"arn:aws:s3:::{bucket}/imports/*"],
            "Condition": {"StringEquals": {"s3:ResourceAccount": "${aws:PrincipalAccount}"}},
        },
        {
            "Sid": "BulkImportFileVersions",
            "Effect": "Allow",
            "Action": ["s3:ListBucketVersions"],
            "Resource": [f"arn:aws:s3:::{bucket}"],
            "Condition": {"StringEquals": {"s3:ResourceAccount": "${aws:PrincipalAccount}"},
                          "StringLike": {"s3:prefix": ["imports/*"]}},
        },
        {
            "Sid": "BulkImportQueue",
            "Effect": "Allow",
            "Action": ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
                       "sqs:GetQueueUrl", "sqs:ReceiveMessage", "sqs:SendMessage"],
            "Resource": queues,
        },
        {
            "Sid": "BulkImportQueueKey",
            "Effect": "Allow",
            # the queue's SSE (the operations key): send chunks, receive messages
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": [f"arn:aws:kms:{region}:*:key/*"],
            "Condition": {
                "StringEquals": {"kms:ViaService": f"sqs.{region}.amazonaws.com"},
                "ForAnyValue:StringEquals": {"kms:ResourceAliases": [OPS_KEY_ALIAS]},
            },
        },
    ]


EDGE_ACTIONS = ["cloudfront-keyvaluestore:DeleteKey", "cloudfront-keyvaluestore:DescribeKeyValueStore",
                "cloudfront-keyvaluestore:ListKeys", "cloudfront-keyvaluestore:PutKey",
                "cloudfront-keyvaluestore:UpdateKeys"]


def edge_store_arn(arn: str) -> str:
    """The store's ARN with ``*`` for the account (the rule of every statement here)."""
    parts = arn.split(":", 5)
    parts[4] = "*"
    return ":".join(parts)


# --------------------------------------------------------------------- does the policy cover the code?

ADAPTERS_DIR = PROJECT_ROOT / "chalicelib" / "adapters"

ADAPTER_STATEMENTS: dict[str, tuple[str, ...]] = {
    # adapter module -> the statements (Sid) that must grant every AWS operation it performs
    "directory.py": ("TenantDirectory",),
    "idempotency.py": ("IdempotencyRecords",),
    "data_store.py": ("HomeJurisdictionPersonalData", "HomeJurisdictionKeys"),
    "consent_counts.py": ("HomeJurisdictionPersonalData",),
    # the one-off key move and the restore tool (run with the deployment's settings)
    "legacy_keys.py": ("HomeJurisdictionPersonalData", "HomeJurisdictionKeys"),
    "restored_copy.py": ("HomeJurisdictionPersonalData",),
    "obligation_store.py": ("HomeJurisdictionPersonalData",),
    "request_store.py": ("HomeJurisdictionPersonalData",),
    "governance_store.py": ("HomeJurisdictionPersonalData",),
    "incident_store.py": ("HomeJurisdictionPersonalData",),
    "audit_store.py": ("HomeJurisdictionAuditTrail",),
    "audit_markers.py": ("HomeJurisdictionAuditTrail",),
    "dynamo_batch.py": ("HomeJurisdictionAuditTrail",),  # the audit adapters' batched reads
    "audit_latest.py": ("HomeJurisdictionAuditTrail",),
    "audit_action_index.py": ("HomeJurisdictionAuditTrail",),
    "audit_summaries.py": ("HomeJurisdictionAuditTrail",),
    "audit_time_index.py": ("HomeJurisdictionAuditTrail",),
    "audit_shards.py": ("HomeJurisdictionAuditTrail",),
    "tree_store.py": ("HomeJurisdictionAuditTrail",),
    "kms.py": ("DataKeyTenantKeys",),
    "kms_signer.py": ("AuditCheckpointSigning", "AuditCheckpointPublicKey"),
    "export_bucket.py": ("AuditExports",),
    "witness_bucket.py": ("AuditWitness",),
    "siem_bucket.py": ("SiemStream",),
    "siem_cursor.py": ("HomeJurisdictionPersonalData",),
    "event_cursor.py": ("HomeJurisdictionPersonalData",),
    "webhook_store.py": ("HomeJurisdictionPersonalData",),
    "event_bus.py": ("DomainEventBus",),
    "key_history.py": ("HomeJurisdictionAuditTrail",),
    "edge_routes.py": ("EdgeRoutingTable",),
    "alert_store.py": ("HomeJurisdictionPersonalData",),
    "user_pool.py": ("AlertRecipients",),
    "ses_mailer.py": ("AlertMail",),
    "import_store.py": ("HomeJurisdictionPersonalData",),
    "import_files.py": ("BulkImportFiles", "BulkImportQueue"),
}
NOT_IN_THE_FUNCTION: dict[str, str] = {
    "cognito_admin.py": "used by the local platform's provisioning and the token CLI, never by the deployed API",
    "witness_reader.py": "used by the `audit witness` CLI with an auditor's credentials, never by the deployed API",
}
CLIENT_OPERATIONS: dict[str, str] = {
    "get_item": "dynamodb:GetItem", "put_item": "dynamodb:PutItem", "update_item": "dynamodb:UpdateItem",
    "delete_item": "dynamodb:DeleteItem", "query": "dynamodb:Query", "scan": "dynamodb:Scan",
    "batch_get_item": "dynamodb:BatchGetItem", "batch_write_item": "dynamodb:BatchWriteItem",
    "generate_data_key": "kms:GenerateDataKey", "decrypt": "kms:Decrypt", "encrypt": "kms:Encrypt",
    "re_encrypt": "kms:ReEncryptFrom", "sign": "kms:Sign", "verify": "kms:Verify",
    "get_public_key": "kms:GetPublicKey", "describe_key": "kms:DescribeKey",
    "put_object": "s3:PutObject", "get_object": "s3:GetObject", "head_object": "s3:GetObject",
    "delete_object": "s3:DeleteObject", "list_objects_v2": "s3:ListBucket", "upload_fileobj": "s3:PutObject",
    # Multipart uploads are authorised as PutObject (abort has its own action).
    "create_multipart_upload": "s3:PutObject", "upload_part": "s3:PutObject",
    "complete_multipart_upload": "s3:PutObject", "abort_multipart_upload": "s3:AbortMultipartUpload",
    "describe_key_value_store": "cloudfront-keyvaluestore:DescribeKeyValueStore",
    "put_key": "cloudfront-keyvaluestore:PutKey", "delete_key": "cloudfront-keyvaluestore:DeleteKey",
    "update_keys": "cloudfront-keyvaluestore:UpdateKeys", "list_keys": "cloudfront-keyvaluestore:ListKeys",
    "list_users_in_group": "cognito-idp:ListUsersInGroup", "send_email": "ses:SendEmail",
    "put_events": "events:PutEvents",
    "send_message_batch": "sqs:SendMessage", "get_queue_url": "sqs:GetQueueUrl",
}
TRANSACT_OPERATIONS: dict[str, str] = {
    "Put": "dynamodb:PutItem", "Update": "dynamodb:UpdateItem", "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
}
_CALL = re.compile(r"client\.([a-z_0-9]+)\(|\b(?:dynamodb|kms|s3)\([^()]*\)\.([a-z_0-9]+)\(")
"""``self._client.put_item(``, ``s3_client.get_object(``, ``clients.dynamodb(region).query(``."""
_TRANSACT = re.compile(r"""\{\s*["'](Put|Update|Delete|ConditionCheck)["']\s*:""")
_PRESIGN = re.compile(r"""generate_presigned_url\(\s*["']([a-z_]+)["']""")


def operations_in(source: str) -> set[str]:
    """The IAM actions of the AWS client calls and transaction items written in ``source``."""
    actions = set()
    for match in _CALL.finditer(source):
        operation = match.group(1) or match.group(2)
        if operation in CLIENT_OPERATIONS:
            actions.add(CLIENT_OPERATIONS[operation])
    for match in _PRESIGN.finditer(source):
        if match.group(1) in CLIENT_OPERATIONS:
            actions.add(CLIENT_OPERATIONS[match.group(1)])
    actions.update(TRANSACT_OPERATIONS[match.group(1)] for match in _TRANSACT.finditer(source))
    return actions


def missing_grants(policy: dict[str, Any]) -> list[str]:
    """Every AWS operation an adapter performs that its statements of ``policy`` do not allow."""
    by_sid = {statement["Sid"]: set(statement["Action"]) for statement in policy["Statement"]}
    problems = []
    for path in sorted(ADAPTERS_DIR.glob("*.py")):
        used = operations_in(path.read_text(encoding="utf-8"))
        if not used or path.name in NOT_IN_THE_FUNCTION:
            continue
        sids = ADAPTER_STATEMENTS.get(path.name)
        if sids is None:
            problems.append(f"{path.name} calls {sorted(used)}: map it to a statement in deploy/iam.py")
            continue
        granted = set().union(*(by_sid.get(sid, set()) for sid in sids))
        if any(sid in by_sid for sid in sids):
            for action in sorted(used - granted):
                problems.append(f"{path.name} performs {action}, which {'/'.join(sids)} does not grant")
    return problems


def serialise(policy: dict[str, Any]) -> str:
    return json.dumps(policy, indent=2) + "\n"


def stale_files() -> list[str]:
    """The stages whose ``.chalice/policy-<stage>.json`` is missing or differs from ``render_policy``."""
    stale = []
    for name in prod_stages():
        path = load_stage(name).policy_file
        if not path.exists() or path.read_text(encoding="utf-8") != serialise(render_policy(name)):
            stale.append(name)
    return stale


def write_all() -> list[str]:
    written = []
    for name in prod_stages():
        path = load_stage(name).policy_file
        text = serialise(render_policy(name))
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            written.append(str(path))
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write (or --check) .chalice/policy-<stage>.json")
    parser.add_argument("--check", action="store_true", help="fail if a policy file is out of date")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files()
        for name in stale:
            print(f".chalice/policy-{name}.json is out of date: run python -m deploy.iam", file=sys.stderr)
        return 1 if stale else 0
    for path in write_all():
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
