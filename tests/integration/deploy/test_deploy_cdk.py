"""The CDK app (deploy/cdk), synthesized offline for every stage and checked like the SAM templates.

The stages packaged once per session (fixture ``packaged``, shared with test_deploy.py) are synthesized
in one ``python -m deploy.cdk`` process (jsii starts Node.js once), as ``make package`` runs it; the
tests read the cloud assembly it writes.
"""

from __future__ import annotations

import copy
import io
import json
import subprocess
import sys
from contextlib import redirect_stderr
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from deploy import verify
from deploy.cdk import cli
from deploy.cdk.template import REPLICA_KEYS_STACK, SAM_TYPES, drift_problems, included_template, validation_findings
from deploy.render import SKIPS
from deploy.stages import DEPLOY_ORDER, DIRECTORY_STAGE, PROJECT_ROOT, key_only_regions, load_stage
from tests.integration.deploy.deploy_packages import Packaged, run

STAGES = list(DEPLOY_ORDER)
GLOBAL_ENTRY = {"GlobalEntry": "AWS::CloudFront::Distribution", "TenantRouter": "AWS::CloudFront::Function",
                "TenantRegions": "AWS::CloudFront::KeyValueStore", "ConsoleBucket": "AWS::S3::Bucket"}


@dataclass
class Stack:
    artifact_id: str
    stack_name: str
    region: str
    template_path: Path

    @property
    def template(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.template_path.read_text())
        return loaded


@dataclass
class Assembly:
    directory: Path
    stacks: dict[str, Stack]

    def stage(self, stage: str) -> Stack:
        return self.stacks[f"enclave-{stage}"]


@pytest.fixture(scope="session")
def assembly(packaged: dict[str, Packaged]) -> Assembly:
    build = packaged[STAGES[0]].directory.parent
    out = build / "cdk.out"
    run([sys.executable, "-m", "deploy.cdk", "--build-dir", str(build), "--out", str(out), *STAGES],
        load_stage(STAGES[0]).region)
    manifest = json.loads((out / "manifest.json").read_text())
    stacks = {}
    for artifact_id, artifact in manifest["artifacts"].items():
        if artifact["type"] == "aws:cloudformation:stack":
            stacks[artifact_id] = Stack(artifact_id, artifact["properties"].get("stackName", artifact_id),
                                        artifact["environment"].rsplit("/", 1)[-1],
                                        out / artifact["properties"]["templateFile"])
    return Assembly(out, stacks)


@pytest.fixture(scope="session")
def cdk_checkov(assembly: Assembly) -> dict[Path, verify.CheckovReport]:
    return verify.checkov(*(stack.template_path for stack in assembly.stacks.values()))


def test_the_app_defines_the_four_regional_stacks_and_the_replica_region_keys(assembly: Assembly) -> None:
    expected = {f"enclave-{stage}": (f"enclave-{stage}", load_stage(stage).region) for stage in STAGES}
    expected |= {f"{REPLICA_KEYS_STACK}-{region}": (REPLICA_KEYS_STACK, region) for region in key_only_regions()}
    assert {s.artifact_id: (s.stack_name, s.region) for s in assembly.stacks.values()} == expected
    for region in key_only_regions():
        keys = assembly.stacks[f"{REPLICA_KEYS_STACK}-{region}"].template["Resources"]
        assert keys["DataKeyAlias"]["Properties"]["AliasName"] == "alias/enclave-data"


def test_the_global_entry_is_in_the_directory_stage_and_a_witness_bucket_in_every_stage(assembly: Assembly) -> None:
    for stage in STAGES:
        resources = assembly.stage(stage).template["Resources"]
        entry = {name: resources[name]["Type"] for name in GLOBAL_ENTRY if name in resources}
        assert entry == (GLOBAL_ENTRY if stage == DIRECTORY_STAGE else {}), stage
        witness = resources["WitnessBucket"]["Properties"]
        assert witness["BucketName"] == load_stage(stage).witness_bucket
        assert witness["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]["Mode"] == "COMPLIANCE"


@pytest.mark.parametrize("stage", STAGES)
def test_the_cdk_stack_defines_what_the_sam_template_defines(assembly: Assembly, packaged: dict[str, Packaged],
                                                             stage: str) -> None:
    sam, synthesized = packaged[stage].sam, assembly.stage(stage).template
    assert drift_problems(sam, synthesized, packaged[stage].region) == []
    for name, resource in sam["Resources"].items():  # the same logical ids and types, spelled out
        assert synthesized["Resources"][name]["Type"] == SAM_TYPES.get(resource["Type"], resource["Type"])
    assert synthesized["Outputs"] == sam["Outputs"]


@pytest.mark.parametrize("stage", STAGES)
def test_every_function_runs_the_packaged_zip_from_the_cdk_asset(assembly: Assembly, packaged: dict[str, Packaged],
                                                                 stage: str) -> None:
    stack = assembly.stage(stage)
    files = json.loads((assembly.directory / f"{stack.artifact_id}.assets.json").read_text())["files"]
    (asset_hash, asset), = [(h, a) for h, a in files.items() if a["displayName"] == "DeploymentPackage"]
    staged = assembly.directory / asset["source"]["path"]
    assert staged.read_bytes() == packaged[stage].zip_path.read_bytes()
    destination = next(iter(asset["destinations"].values()))
    functions = {name: r for name, r in stack.template["Resources"].items() if r["Type"] == "AWS::Lambda::Function"}
    assert set(functions) == {name for name, r in packaged[stage].sam["Resources"].items()
                              if r["Type"] == "AWS::Serverless::Function"}
    for function in functions.values():
        code = function["Properties"]["Code"]
        assert code["S3Key"] == destination["objectKey"] == f"{asset_hash}.zip"
        assert code["S3Bucket"] == {"Fn::Sub": destination["bucketName"]}  # the bootstrap bucket, not a placeholder


def test_new_code_publishes_a_new_version_for_the_live_alias(packaged: dict[str, Packaged]) -> None:
    """The version's logical id follows the package's hash: new code, new version; same code, no change."""
    p = packaged["prod-euw2"]

    def live_version(code_key: str) -> str:
        resources = included_template(p.sam, p.region, code_key)["Resources"]
        versions = [name for name, r in resources.items() if r["Type"] == "AWS::Lambda::Version"]
        alias = next(r for r in resources.values() if r["Type"] == "AWS::Lambda::Alias")
        assert alias["Properties"]["FunctionVersion"] == {"Fn::GetAtt": [versions[0], "Version"]}
        return versions[0]

    assert live_version("aaa.zip") == live_version("aaa.zip")
    assert live_version("aaa.zip") != live_version("bbb.zip")


def test_the_drift_check_notices_a_changed_added_or_missing_resource(assembly: Assembly,
                                                                     packaged: dict[str, Packaged]) -> None:
    p = packaged["prod-euw2"]
    synthesized = assembly.stage("prod-euw2").template
    changed = copy.deepcopy(synthesized)
    changed["Resources"]["DataKey"]["Properties"]["EnableKeyRotation"] = False
    assert "DataKey: properties differ" in drift_problems(p.sam, changed, p.region)
    added = copy.deepcopy(synthesized)
    added["Resources"]["Extra"] = {"Type": "AWS::SQS::Queue", "Properties": {}}
    assert any(line.startswith("Extra (AWS::SQS::Queue) is neither") for line in drift_problems(p.sam, added, p.region))
    missing = copy.deepcopy(synthesized)
    del missing["Resources"]["WitnessBucket"]
    assert "WitnessBucket (AWS::S3::Bucket) is missing" in drift_problems(p.sam, missing, p.region)
    rerouted = copy.deepcopy(synthesized)
    rerouted["Resources"]["APIHandler"]["Properties"]["Environment"]["Variables"]["ENCLAVE_REGION"] = "us-east-1"
    assert "APIHandler: Environment differs" in drift_problems(p.sam, rerouted, p.region)


def test_cfn_lint_is_clean_on_every_synthesized_template(assembly: Assembly) -> None:
    for stack in assembly.stacks.values():
        assert verify.cfn_lint(stack.template_path, stack.region) == [], stack.artifact_id


def test_checkov_findings_are_fixed_or_justified_as_on_the_sam_path(
        assembly: Assembly, cdk_checkov: dict[Path, verify.CheckovReport]) -> None:
    for stack in assembly.stacks.values():
        report = cdk_checkov[stack.template_path.resolve()]
        assert report.failed == [], stack.artifact_id
        assert report.passed > (40 if stack.stack_name != REPLICA_KEYS_STACK else 0)
        for check, resource, reason in report.skipped:
            assert reason == SKIPS[check], (check, resource)
        declared = {skip["id"] for r in stack.template["Resources"].values()
                    for skip in r.get("Metadata", {}).get("checkov", {}).get("skip", [])}
        assert declared == {check for check, _, _ in report.skipped}, stack.artifact_id


def test_cdk_template_validation_found_nothing_unacknowledged(assembly: Assembly) -> None:
    assert validation_findings(assembly.directory) == []
    report = json.loads((assembly.directory / "validation-report.json").read_text())
    suppressed = [(v["ruleName"], c["constructFqn"]) for plugin in report["pluginReports"]
                  for v in plugin.get("suppressedViolations", []) for c in v["violatingConstructs"]]
    assert suppressed
    assert set(suppressed) == {("W3011", "aws-cdk-lib.aws_lambda.CfnVersion")}  # only the versions


def test_synth_without_a_package_says_to_run_make_package(tmp_path: Path) -> None:
    stderr = io.StringIO()
    with redirect_stderr(stderr):
        code = cli.main(["--build-dir", str(tmp_path), "prod-euw2"], environ={})
    assert code == 2
    assert "run make package STAGE=prod-euw2 first" in stderr.getvalue()


def test_make_package_synthesizes_the_stage_with_the_cdk_app() -> None:
    result = subprocess.run(["make", "-n", "package", "STAGE=prod-euw2"], cwd=PROJECT_ROOT, capture_output=True,
                            text=True, check=True)
    lines = [line.strip() for line in result.stdout.splitlines()]
    chalice = next(i for i, line in enumerate(lines) if "chalice package" in line)
    synth = lines.index(".venv/bin/python -m deploy.cdk --build-dir build --out build/prod-euw2/cdk.out prod-euw2")
    assert synth > chalice
