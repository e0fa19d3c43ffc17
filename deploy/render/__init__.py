"""The CloudFormation resources of one production stage, merged by ``chalice package --merge-template``.

``render_resources(stage)`` returns the template for that stage's region; ``python -m deploy.render
STAGE OUT.json`` writes it (``make package`` does, then runs ``chalice package``). For a region that
only holds replicas (ap-southeast-4, us-east-2, us-west-2: no stage runs there),
``python -m deploy.render --key-region REGION OUT.json`` writes the small template of its
``alias/enclave-data`` key, which encrypts the replicas there.

What a stage's template holds (deploy/README.md explains each), one module per part:

* ``kms``: the regional data key, the audit signing key and the operations key, with their policies;
* ``storage``: the DynamoDB tables (idempotency, the global tables of the jurisdictions homed here,
  the tenant directory in ``prod-use1``) and the S3 export and access-log buckets;
* ``cognito``: the regional user pool, its app client and the hosted UI domain;
* ``operations``: log groups, alarms and their SNS topic, and the changes to Chalice's own resources
  (functions, the ``live`` alias, the regional REST API);
* ``deploy.console``: the global entry; ``deploy.sequencer``: the stream sources of the sequencer;
* ``alerts``: the reminders job's hourly schedule (EventBridge Scheduler), its role and the SES identity.
  ``deploy.imports``: the bulk-import queues and the export bucket's upload events.

``common`` holds what they share (constants, ``SKIPS``: findings of ``checkov`` that do not apply,
skipped per resource in ``Metadata.checkov.skip``, each with its reason). This module assembles the
template, renders the key of a replica-only region and writes both (``__main__``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from deploy.appmodel import AppModel, load_app_model
from deploy.console import global_entry_resources
from deploy.imports import import_resources
from deploy.render.alerts import alert_resources
from deploy.render.cognito import cognito_resources, console_origin, hosted_ui_prefix
from deploy.render.common import (
    ACCESS_LOG_EXPIRY_DAYS,
    ALIAS_NAME,
    AUDIT_FAILURE_METRIC,
    EXPORT_EXPIRY_DAYS,
    KEY_FAILURE_METRIC,
    LOG_RETENTION_DAYS,
    METRICS_NAMESPACE,
    METRICS_SERVICE,
    NOT_FOUND_BODY,
    OPS_KEY_ALIAS,
    RUNTIME,
    SKIPS,
    Resource,
    Template,
    alias_arn,
    skips,
    tags,
)
from deploy.render.events import event_resources
from deploy.render.kms import dynamodb_sse_statement, kms_key, kms_resources
from deploy.render.operations import alarm, api_resources, function_resources, log_group
from deploy.render.storage import bucket_resources, global_table, table_resources
from deploy.sequencer import add_stream_sources
from deploy.stages import Stage, key_only_regions, load_stage

__all__ = [
    "ACCESS_LOG_EXPIRY_DAYS", "ALIAS_NAME", "AUDIT_FAILURE_METRIC", "EXPORT_EXPIRY_DAYS", "KEY_FAILURE_METRIC",
    "LOG_RETENTION_DAYS", "METRICS_NAMESPACE", "METRICS_SERVICE", "NOT_FOUND_BODY", "OPS_KEY_ALIAS", "RUNTIME",
    "SKIPS", "Resource", "Template", "alarm", "alias_arn", "api_resources", "bucket_resources", "cognito_resources",
    "console_origin", "function_resources", "global_table", "hosted_ui_prefix", "kms_resources", "log_group",
    "main", "outputs", "render_key_region", "render_resources", "skips", "table_resources", "tags", "write",
]


def outputs(stage: Stage) -> dict[str, Any]:
    values: dict[str, Any] = {
        "UserPoolId": {"Ref": "UserPool"},
        "UserPoolClientId": {"Ref": "UserPoolClient"},
        "DataKeyArn": {"Fn::GetAtt": ["DataKey", "Arn"]},
        "SigningKeyArn": {"Fn::GetAtt": ["SigningKey", "Arn"]},
        "ExportBucketName": {"Ref": "ExportBucket"},
        "WitnessBucketName": {"Ref": "WitnessBucket"},
        "SiemBucketName": {"Ref": "SiemBucket"},
        "EventBusArn": {"Fn::GetAtt": ["EventBus", "Arn"]},
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
                 global_entry_resources(stage), alert_resources(stage, model),
                 event_resources(stage)):
        overlap = resources.keys() & part.keys()
        if overlap:
            raise ValueError(f"logical ids defined twice: {sorted(overlap)}")
        resources.update(part)
    add_stream_sources(stage, model, resources)
    import_resources(stage, model, resources)
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
            "DataKey": kms_key(f"Enclave {region}: SSE of the DynamoDB replicas (no direct use)",
                               [{"Key": "app", "Value": "enclave"}, {"Key": "region-role", "Value": "replica"}],
                               [dynamodb_sse_statement(region)]),
            "DataKeyAlias": {"Type": "AWS::KMS::Alias",
                             "Properties": {"AliasName": alias, "TargetKeyId": {"Ref": "DataKey"}}},
        },
        "Outputs": {"DataKeyArn": {"Value": {"Fn::GetAtt": ["DataKey", "Arn"]}}},
    }


def write(template: Template, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(template, indent=2) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.render",
                                     description="Render the merge template of a stage (or a replica key region)")
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
