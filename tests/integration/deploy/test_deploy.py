"""The deploy artifacts of every production stage, checked offline as before a real deployment.

The stages are packaged once per session (fixture ``packaged``, tests/integration/deploy/deploy_packages.py:
rendered and packaged with ``chalice package --merge-template``, the SAM template also expanded to plain CloudFormation
with ``aws-sam-translator``) so that cfn-lint and checkov see the resources that will really exist.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from chalicelib.adapters.cognito_admin import ROLE_GROUPS
from chalicelib.settings import REGIONS
from deploy import iam, verify
from deploy.render import ALIAS_NAME, NOT_FOUND_BODY, SKIPS
from deploy.stages import DEPLOY_ORDER, DIRECTORY_STAGE, PROJECT_ROOT, jurisdictions, key_only_regions, load_stage
from deploy.tables import AUDIT, DATA, DIRECTORY, IDEMPOTENCY, KEYS
from tests.integration.deploy.deploy_packages import Packaged, run

STAGES = list(DEPLOY_ORDER)
BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def key_templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("keys")
    paths = {}
    for region in key_only_regions():
        path = root / f"keys-{region}.json"
        run([sys.executable, "-m", "deploy.render", "--key-region", region, str(path)], region)
        paths[region] = path
    return paths


@pytest.fixture(scope="session")
def checkov_reports(packaged: dict[str, Packaged],
                    key_templates: dict[str, Path]) -> dict[Path, verify.CheckovReport]:
    paths = [p.directory / "expanded.json" for p in packaged.values()] + list(key_templates.values())
    return verify.checkov(*paths)


@pytest.mark.parametrize("stage", STAGES)
def test_cfn_lint_is_clean(packaged: dict[str, Packaged], stage: str) -> None:
    p = packaged[stage]
    assert verify.cfn_lint(p.directory / "sam.json", p.region) == []
    assert verify.cfn_lint(p.directory / "expanded.json", p.region) == []


def test_the_linters_do_flag_a_broken_template(tmp_path: Path) -> None:
    bad = {"Resources": {"Table": {"Type": "AWS::DynamoDB::Table", "Properties": {"BillingMode": "NOPE"}}}}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    assert any(line.startswith("E3030") for line in verify.cfn_lint(path, "eu-west-2"))
    report = verify.checkov(path)[path.resolve()]
    assert any(check == "CKV_AWS_28" for check, _, _ in report.failed)  # no point-in-time recovery
    wildcard = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    assert verify.iam_problems(wildcard, "eu-west-2")
    assert verify.parliament_findings(wildcard)


def test_cfn_lint_is_clean_for_replica_key_regions(key_templates: dict[str, Path]) -> None:
    assert key_templates, "the law packs name replica regions without a stage (ap-southeast-4, ...)"
    for region, path in key_templates.items():
        assert verify.cfn_lint(path, region) == [], region


@pytest.mark.parametrize("stage", STAGES)
def test_checkov_findings_are_fixed_or_justified(packaged: dict[str, Packaged], stage: str,
                                                 checkov_reports: dict[Path, verify.CheckovReport]) -> None:
    report = checkov_reports[(packaged[stage].directory / "expanded.json").resolve()]
    assert report.failed == []
    assert report.passed > 40
    for check, resource, reason in report.skipped:
        assert reason, (check, resource)
        assert reason == SKIPS[check], (check, resource)
    declared = {skip["id"] for r in packaged[stage].expanded["Resources"].values()
                for skip in r.get("Metadata", {}).get("checkov", {}).get("skip", [])}
    fired = {check for check, _, _ in report.skipped}
    assert declared == fired, "a skip annotation that no finding needs must go"


def test_checkov_is_clean_for_replica_key_regions(key_templates: dict[str, Path],
                                                  checkov_reports: dict[Path, verify.CheckovReport]) -> None:
    for path in key_templates.values():
        report = checkov_reports[path.resolve()]
        assert (report.failed, report.skipped) == ([], [])
        assert report.passed > 0


@pytest.mark.parametrize("stage", STAGES)
def test_iam_policy_passes_parliament(packaged: dict[str, Packaged], stage: str) -> None:
    policy = json.loads(load_stage(stage).policy_file.read_text())
    assert verify.parliament_findings(policy) == []
    for name, role in packaged[stage].resources("AWS::IAM::Role").items():
        for inline in role["Properties"].get("Policies", []):
            assert verify.parliament_findings(inline["PolicyDocument"]) == [], name


@pytest.mark.parametrize("stage", STAGES)
def test_iam_policy_is_least_privilege_and_regional(packaged: dict[str, Packaged], stage: str) -> None:
    p = packaged[stage]
    policy = json.loads(load_stage(stage).policy_file.read_text())
    assert verify.iam_problems(policy, p.region) == []
    for statement in policy["Statement"]:
        actions = statement["Action"]
        assert all("*" not in action for action in actions)
        assert statement["Resource"] != "*"
        for arn in statement["Resource"]:
            assert f":{p.region}:" in arn or arn.startswith(f"arn:aws:s3:::{load_stage(stage).export_bucket}") \
                or arn.startswith(f"arn:aws:s3:::{load_stage(stage).witness_bucket}/") \
                or arn.startswith(f"arn:aws:s3:::{load_stage(stage).settings.siem_bucket}/") \
                or arn == iam.edge_store_arn(str(load_stage(stage).settings.edge_kvs_arn))  # CloudFront is global
        if any(action.startswith("kms:") for action in actions):
            assert "kms:ResourceAliases" in json.dumps(statement["Condition"])
    sids = {s["Sid"]: s for s in policy["Statement"]}
    assert "kms:EncryptionContext:tenant_id" in json.dumps(sids["DataKeyTenantKeys"]["Condition"])
    assert sids["DataKeyThroughDynamoDB"]["Condition"]["StringEquals"]["kms:ViaService"] == \
        f"dynamodb.{p.region}.amazonaws.com"
    assert sids["DataKeyThroughS3Exports"]["Condition"]["StringEquals"]["kms:ViaService"] == \
        f"s3.{p.region}.amazonaws.com"
    assert "dynamodb:DeleteItem" not in sids["HomeJurisdictionAuditTrail"]["Action"], "the audit trail is append-only"
    # Chalice embeds the file as each function role's policy, unchanged.
    for name, role in p.resources("AWS::IAM::Role", expanded=False).items():
        if name.endswith("Role") and role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] \
                == {"Service": "lambda.amazonaws.com"}:
            assert [x["PolicyDocument"] for x in role["Properties"]["Policies"]] == [policy], name


def test_iam_policy_files_are_rendered_from_deploy_iam() -> None:
    assert iam.stale_files() == [], "run: .venv/bin/python -m deploy.iam"


@pytest.mark.parametrize("stage", STAGES)
def test_iam_policy_grants_every_call_the_adapters_make(stage: str) -> None:
    assert iam.missing_grants(iam.render_policy(stage)) == []


def test_adapter_scan_sees_calls_and_transaction_items() -> None:
    source = 'self._client.update_item(T=1)\nitems = [{"Delete": {"TableName": t}}]\nkms_client.sign(M=1)'
    assert iam.operations_in(source) == {"dynamodb:UpdateItem", "dynamodb:DeleteItem", "kms:Sign"}
    policy = {"Statement": [{"Sid": "TenantDirectory", "Action": ["dynamodb:GetItem"]}]}
    assert any("PutItem" in problem for problem in iam.missing_grants(policy))


@pytest.mark.parametrize("stage", STAGES)
def test_global_tables_replicate_only_where_the_law_pack_allows(packaged: dict[str, Packaged], stage: str) -> None:
    p = packaged[stage]
    assert verify.residency_problems(p.sam) == []
    policies = {policy.code: policy for policy in jurisdictions()}
    for name, table in p.resources("AWS::DynamoDB::GlobalTable").items():
        regions = {replica["Region"] for replica in table["Properties"]["Replicas"]}
        residency = table["Metadata"]["Enclave"]["Residency"]
        if "Jurisdiction" in residency:
            allowed = policies[residency["Jurisdiction"]].allowed_regions
            assert regions <= allowed, name
            assert regions == allowed, name
        else:
            assert table["Properties"]["TableName"] == DIRECTORY.base_name
            assert regions == set(REGIONS)
            assert not DIRECTORY.holds_personal_data


def test_each_jurisdiction_table_is_declared_once_in_its_home_stage(packaged: dict[str, Packaged]) -> None:
    declared: dict[str, list[str]] = {}
    for stage, p in packaged.items():
        for resource in p.resources("AWS::DynamoDB::GlobalTable").values():
            declared.setdefault(resource["Properties"]["TableName"], []).append(stage)
    expected = {DIRECTORY.base_name: [DIRECTORY_STAGE]}
    for policy in jurisdictions():
        home_stage = next(s for s in STAGES if load_stage(s).region == policy.home_region)
        for table in (DATA, KEYS, AUDIT):
            expected[table.name_for(policy.code)] = [home_stage]
    assert declared == expected


@pytest.mark.parametrize("stage", STAGES)
def test_tables_have_pitr_deletion_protection_and_customer_key(packaged: dict[str, Packaged], stage: str) -> None:
    p = packaged[stage]
    for name, table in p.resources("AWS::DynamoDB::GlobalTable").items():
        props = table["Properties"]
        assert props["SSESpecification"] == {"SSEEnabled": True, "SSEType": "KMS"}
        # the key table has no point-in-time recovery: a restored copy must never hold a destroyed key
        pitr = ({"PointInTimeRecoveryEnabled": False} if props["TableName"].startswith(KEYS.base_name)
                else {"PointInTimeRecoveryEnabled": True, "RecoveryPeriodInDays": 35})
        for replica in props["Replicas"]:
            assert replica["PointInTimeRecoverySpecification"] == pitr, name
            assert replica["DeletionProtectionEnabled"] is True, name
            key = json.dumps(replica["SSESpecification"]["KMSMasterKeyId"])
            assert "DataKey" in key if replica["Region"] == p.region else "alias/enclave-data" in key
        assert table["DeletionPolicy"] == "Retain"
    idempotency = p.resources("AWS::DynamoDB::Table")[IDEMPOTENCY.logical_name]["Properties"]
    assert idempotency["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert idempotency["SSESpecification"]["KMSMasterKeyId"] == {"Fn::GetAtt": ["DataKey", "Arn"]}


@pytest.mark.parametrize("stage", STAGES)
def test_key_policies_limit_use_to_the_function_roles(packaged: dict[str, Packaged], stage: str) -> None:
    p = packaged[stage]
    function_roles = sorted({f["Properties"]["Role"]["Fn::GetAtt"][0]
                             for f in p.resources("AWS::Lambda::Function").values()})
    keys = p.resources("AWS::KMS::Key")
    assert keys["DataKey"]["Properties"]["EnableKeyRotation"] is True
    assert (keys["SigningKey"]["Properties"]["KeySpec"], keys["SigningKey"]["Properties"]["KeyUsage"]) == \
        ("ECC_NIST_P256", "SIGN_VERIFY")
    for key_name in ("DataKey", "SigningKey"):
        for statement in keys[key_name]["Properties"]["KeyPolicy"]["Statement"]:
            actions = set(statement["Action"])
            uses = actions & {"kms:Decrypt", "kms:GenerateDataKey", "kms:Encrypt", "kms:Sign"}
            if not uses:
                continue
            principal = statement["Principal"]["AWS"]
            if isinstance(principal, list):
                assert sorted(r["Fn::GetAtt"][0] for r in principal) == function_roles, statement["Sid"]
            else:  # the account, only through DynamoDB for the tables' server-side encryption
                assert statement["Condition"]["StringEquals"]["kms:ViaService"] == \
                    f"dynamodb.{p.region}.amazonaws.com"
            assert statement.get("Condition"), statement["Sid"]
    tenant = next(s for s in keys["DataKey"]["Properties"]["KeyPolicy"]["Statement"]
                  if s["Sid"] == "TenantKeysForTheFunctionsOnly")
    assert tenant["Condition"]["Null"]["kms:EncryptionContext:tenant_id"] == "false"
    aliases = {a["Properties"]["AliasName"] for a in p.resources("AWS::KMS::Alias").values()}
    settings = load_stage(stage).settings
    assert {settings.kms_key_alias, settings.signing_key_alias} <= aliases


@pytest.mark.parametrize("stage", STAGES)
def test_export_bucket_is_private_encrypted_tls_only_and_expiring(packaged: dict[str, Packaged], stage: str) -> None:
    p = packaged[stage]
    buckets = p.resources("AWS::S3::Bucket")
    props = buckets["ExportBucket"]["Properties"]
    assert props["BucketName"] == f"{load_stage(stage).settings.export_bucket_prefix}-{p.region}"
    assert all(props["PublicAccessBlockConfiguration"].values())
    sse = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert sse == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": {"Fn::GetAtt": ["DataKey", "Arn"]}}
    assert any(rule.get("ExpirationInDays", 99) <= 7 for rule in props["LifecycleConfiguration"]["Rules"])
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    policy = p.resources("AWS::S3::BucketPolicy")["ExportBucketPolicy"]["Properties"]["PolicyDocument"]
    assert any(s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
               for s in policy["Statement"])


@pytest.mark.parametrize("stage", STAGES)
def test_witness_bucket_locks_heads_in_compliance_mode_and_the_function_may_only_put(
        packaged: dict[str, Packaged], stage: str) -> None:
    p = packaged[stage]
    props = p.resources("AWS::S3::Bucket")["WitnessBucket"]["Properties"]
    assert props["BucketName"] == load_stage(stage).witness_bucket
    assert props["ObjectLockEnabled"] is True
    rule = props["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]
    assert rule["Mode"] == "COMPLIANCE"
    assert rule["Days"] == min(j.retention.audit.days for j in load_stage(stage).home_jurisdictions())
    assert all(props["PublicAccessBlockConfiguration"].values())
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert "LifecycleConfiguration" not in props  # heads never expire before their lock
    policy = json.loads(load_stage(stage).policy_file.read_text())
    witness = [s for s in policy["Statement"] if any(load_stage(stage).witness_bucket in r for r in s["Resource"])]
    assert [s["Action"] for s in witness] == [["s3:PutObject", "s3:PutObjectRetention"]]


@pytest.mark.parametrize("stage", STAGES)
def test_user_pool_has_the_five_groups_and_an_immutable_tenant(packaged: dict[str, Packaged], stage: str) -> None:
    p = packaged[stage]
    groups = {g["Properties"]["GroupName"] for g in p.resources("AWS::Cognito::UserPoolGroup").values()}
    assert groups == set(ROLE_GROUPS) == {"platform_admin", "regional_admin", "compliance_officer",
                                          "tenant_admin", "tenant_staff"}
    pool = p.resources("AWS::Cognito::UserPool")["UserPool"]["Properties"]
    assert pool["Schema"][0]["Name"] == "tenant_id"
    assert pool["Schema"][0]["Mutable"] is False
    client = p.resources("AWS::Cognito::UserPoolClient")["UserPoolClient"]["Properties"]
    assert "ALLOW_USER_PASSWORD_AUTH" not in client["ExplicitAuthFlows"]  # the local platform's flow only
    assert client["AllowedOAuthFlows"] == ["code"]
    stage_settings = load_stage(stage).settings
    assert client["CallbackURLs"] == [f"{stage_settings.console_origin}/"]
    domain = p.resources("AWS::Cognito::UserPoolDomain")["UserPoolDomain"]["Properties"]["Domain"]
    assert stage_settings.cognito_pools[p.region].domain == f"https://{domain}.auth.{p.region}.amazoncognito.com"
    assert client["GenerateSecret"] is False


@pytest.mark.parametrize("stage", STAGES)
def test_api_invokes_the_provisioned_alias_and_unknown_routes_are_404(packaged: dict[str, Packaged],
                                                                       stage: str) -> None:
    p = packaged[stage]
    capacity = load_stage(stage).capacity
    alias_id = f"APIHandlerAlias{ALIAS_NAME}"
    alias = p.resources("AWS::Lambda::Alias")[alias_id]["Properties"]
    function = p.resources("AWS::Lambda::Function")["APIHandler"]["Properties"]
    assert capacity.snapstart
    assert "ProvisionedConcurrencyConfig" not in alias  # SnapStart and provisioned concurrency exclude each other
    assert function["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    assert function["Runtime"] == "python3.12"
    assert function["ReservedConcurrentExecutions"] == capacity.reserved
    body = p.resources("AWS::ApiGateway::RestApi")["RestAPI"]["Properties"]["Body"]
    uris = [operation["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"]
            for operations in body["paths"].values() for operation in operations.values()
            if "uri" in operation.get("x-amazon-apigateway-integration", {})]
    assert uris
    assert all(f"${{{alias_id}}}" in uri for uri in uris)
    response = body["x-amazon-apigateway-gateway-responses"]["MISSING_AUTHENTICATION_TOKEN"]
    assert response["statusCode"] == "404"
    assert json.loads(response["responseTemplates"]["application/json"]) == json.loads(NOT_FOUND_BODY)
    permission = p.resources("AWS::Lambda::Permission")["APIHandlerInvokePermission"]["Properties"]
    assert permission["FunctionName"] == {"Ref": alias_id}
    assert p.sam["Resources"]["RestAPI"]["Properties"]["EndpointConfiguration"] == "REGIONAL"


@pytest.mark.parametrize("stage", STAGES)
def test_alarms_cover_5xx_throttles_errors_and_audit_write_failures(packaged: dict[str, Packaged],
                                                                   stage: str) -> None:
    metrics = {a["Properties"]["MetricName"] for a in packaged[stage].resources("AWS::CloudWatch::Alarm").values()}
    assert {"5XXError", "Throttles", "Errors", "AuditWriteFailures", "EdgeRouteSyncFailures",
            "AuditEventsMissing", "AuditEventsAltered"} <= metrics


@pytest.mark.parametrize("stage", STAGES)
def test_the_sequencer_reads_every_home_audit_table_stream_and_only_those(packaged: dict[str, Packaged],
                                                                         stage: str) -> None:
    """The deployed sequencer: one event source mapping per home audit table, on the table's own stream
    (not Chalice's placeholder ARN), from the oldest record; its role may read exactly those streams."""
    p = packaged[stage]
    homes = [policy.code for policy in load_stage(stage).home_jurisdictions()]
    mappings = [m for m in p.resources("AWS::Lambda::EventSourceMapping").values()
                if m["Properties"]["FunctionName"] == {"Ref": "AuditSequencer"}]
    streams = sorted(m["Properties"]["EventSourceArn"]["Fn::GetAtt"][0] for m in mappings)
    assert streams == sorted(f"{AUDIT.logical_name}{code}" for code in homes)
    for mapping in mappings:
        assert mapping["Properties"]["StartingPosition"] == "TRIM_HORIZON"
        assert mapping["Properties"]["FunctionName"] == {"Ref": "AuditSequencer"}
    for name, table in p.resources("AWS::DynamoDB::GlobalTable").items():
        if name.startswith(AUDIT.logical_name):
            assert table["Properties"]["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    sids = {s["Sid"]: s for s in json.loads(load_stage(stage).policy_file.read_text())["Statement"]}
    grant = sids["AuditStreamForTheSequencer"]
    assert set(grant["Action"]) >= {"dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:DescribeStream"}
    assert grant["Resource"] == sorted(f"arn:aws:dynamodb:{p.region}:*:table/{AUDIT.name_for(code)}/stream/*"
                                       for code in homes)


@pytest.mark.parametrize("stage", STAGES)
def test_the_import_worker_reads_its_queue_fed_by_the_buckets_uploads_with_a_dead_letter_alarm(
        packaged: dict[str, Packaged], stage: str) -> None:
    """Bulk imports: the export bucket's ``imports/`` uploads go to the queue (only that bucket may send),
    the worker function reads it, failures end in an alarmed dead-letter queue, and files left behind
    expire within a day (every version)."""
    p = packaged[stage]
    queues = p.resources("AWS::SQS::Queue")
    assert set(queues) == {"ImportQueue", "ImportDeadLetterQueue"}
    queue = queues["ImportQueue"]["Properties"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["ImportDeadLetterQueue", "Arn"]}
    assert all(q["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": ["OpsKey", "Arn"]} for q in queues.values())
    worker = [m["Properties"] for m in p.resources("AWS::Lambda::EventSourceMapping").values()
              if m["Properties"]["FunctionName"] == {"Ref": "ImportWorker"}]
    assert worker == [{**worker[0], "EventSourceArn": {"Fn::GetAtt": ["ImportQueue", "Arn"]}, "BatchSize": 1}]
    timeout = p.resources("AWS::Lambda::Function")["ImportWorker"]["Properties"]["Timeout"]
    assert queue["VisibilityTimeout"] >= 6 * timeout
    bucket = p.resources("AWS::S3::Bucket")["ExportBucket"]["Properties"]
    [events] = bucket["NotificationConfiguration"]["QueueConfigurations"]
    assert events["Queue"] == {"Fn::GetAtt": ["ImportQueue", "Arn"]}
    assert events["Filter"]["S3Key"]["Rules"] == [{"Name": "prefix", "Value": "imports/"}]
    rule = next(r for r in bucket["LifecycleConfiguration"]["Rules"] if r.get("Prefix") == "imports/")
    assert (rule["ExpirationInDays"], rule["NoncurrentVersionExpiration"]["NoncurrentDays"]) == (1, 1)
    [policy] = p.resources("AWS::SQS::QueuePolicy").values()
    [statement] = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert statement["Condition"]["ArnLike"]["aws:SourceArn"] == f"arn:aws:s3:::{load_stage(stage).export_bucket}"
    alarms = p.resources("AWS::CloudWatch::Alarm")
    assert alarms["ImportDeadLetterAlarm"]["Properties"]["Dimensions"][0]["Value"] == {
        "Fn::GetAtt": ["ImportDeadLetterQueue", "QueueName"]}
    sids = {s["Sid"]: s for s in json.loads(load_stage(stage).policy_file.read_text())["Statement"]}
    assert sids["BulkImportFiles"]["Resource"] == [f"arn:aws:s3:::{load_stage(stage).export_bucket}/imports/*"]
    assert sids["BulkImportQueue"]["Resource"] == [f"arn:aws:sqs:{p.region}:*:enclave-imports"]


@pytest.mark.parametrize("stage", STAGES)
def test_deployment_zip_holds_every_runtime_policy_file(packaged: dict[str, Packaged], stage: str) -> None:
    p = packaged[stage]
    assert verify.zip_problems(p.zip_path) == []
    with zipfile.ZipFile(p.zip_path) as archive:
        names = set(archive.namelist())
    policies = PROJECT_ROOT / "policies"
    law_packs = {f"policies/jurisdictions/{path.name}" for path in (policies / "jurisdictions").glob("*.json")}
    overlays = {f"policies/jurisdictions/overlays/{path.name}"
                for path in (policies / "jurisdictions" / "overlays").glob("*.json")}
    authz = {f"policies/authz/{path.name}" for path in (policies / "authz").iterdir() if path.is_file()}
    assert len(law_packs) == 4
    assert {"policies/jurisdictions/overlays/US-NY.json", "policies/jurisdictions/overlays/AU-NSW.json"} <= overlays
    assert authz
    assert law_packs | overlays | authz | {"policies/jurisdictions/changelog/CHANGELOG.json"} <= names
    cache = json.loads(zipfile.ZipFile(p.zip_path).read("chalicelib/generated/lawpacks.json"))
    assert {"overlays/US-NY.json", "changelog/CHANGELOG.json"} <= set(cache["sources"])  # validated and cached
    assert "US-NY" in cache["overlays"]
    assert not any(name.startswith(("tests/", "deploy/", "devtools/")) for name in names)


def test_workflow_is_valid_and_deploys_every_stage_in_order() -> None:
    workflow = PROJECT_ROOT / ".github" / "workflows" / "deploy.yml"
    result = subprocess.run([str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows",
                             str(workflow)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    text = workflow.read_text()
    positions = [text.index(f"\n  {stage}:\n") for stage in STAGES]
    assert positions == sorted(positions)
    for stage in STAGES:
        assert f"environment: {stage}" in text


@pytest.mark.parametrize("stage", STAGES)
def test_key_tables_are_not_restorable_but_replicated_and_backups_are_denied(packaged: dict[str, Packaged],
                                                                              stage: str) -> None:
    """Keys sit outside every restorable copy: no PITR, no on-demand backup; durable through replicas."""
    tables = {t["Properties"]["TableName"]: t for t in packaged[stage].resources("AWS::DynamoDB::GlobalTable").values()}
    policy = json.loads(load_stage(stage).policy_file.read_text())
    sids = {s["Sid"]: s for s in policy["Statement"]}
    for policy_of in load_stage(stage).home_jurisdictions():
        keys, data = tables[KEYS.name_for(policy_of.code)], tables[DATA.name_for(policy_of.code)]
        assert [r["Region"] for r in keys["Properties"]["Replicas"]] == \
            [r["Region"] for r in data["Properties"]["Replicas"]]   # same jurisdiction, same regions
        assert all(r["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": False}
                   for r in keys["Properties"]["Replicas"])
        arn = f"arn:aws:dynamodb:{packaged[stage].region}:*:table/{KEYS.name_for(policy_of.code)}"
        assert arn in sids["HomeJurisdictionKeys"]["Resource"]
        assert arn in sids["DenyKeyTableBackups"]["Resource"]
        assert sids["DenyKeyTableBackups"]["Effect"] == "Deny"
        assert "dynamodb:CreateBackup" in sids["DenyKeyTableBackups"]["Action"]


@pytest.mark.parametrize("stage", STAGES)
def test_the_event_bus_is_the_regions_own_and_the_only_one_the_functions_may_put_to(
        packaged: dict[str, Packaged], stage: str) -> None:
    settings = load_stage(stage).settings
    (bus,) = packaged[stage].resources("AWS::Events::EventBus").values()
    assert bus["Properties"]["Name"] == settings.event_bus == f"enclave-events-{settings.region}"
    assert len(packaged[stage].resources("AWS::Events::Archive")) == 1
    policy = json.loads(load_stage(stage).policy_file.read_text())
    puts = [s for s in policy["Statement"] if any(a.startswith("events:") for a in s["Action"])]
    assert puts == [{"Sid": "DomainEventBus", "Effect": "Allow", "Action": ["events:PutEvents"],
                     "Resource": [f"arn:aws:events:{settings.region}:*:event-bus/{settings.event_bus}"]}]
    secrets = next(s for s in policy["Statement"] if s["Sid"] == "WebhookSecretKeys")
    assert secrets["Condition"]["StringEquals"] == {"kms:EncryptionContext:purpose": "webhook-secret"}
    schedules = [f for f in packaged[stage].resources("AWS::Serverless::Function", expanded=False)
                 if "WebhookDispatch" in f or "webhook_dispatch" in f]
    assert schedules, "the webhook dispatcher is deployed as a scheduled function"
