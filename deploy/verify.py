"""Offline checks of a packaged stage, as a release engineer runs them before deploying.

``python -m deploy.verify STAGE BUILD_DIR`` (after ``make package STAGE=...``) and
``tests/integration/deploy/test_deploy.py`` run the same functions:

* ``expand_sam`` (``deploy.sam``): the SAM template translated to plain CloudFormation by ``aws-sam-translator``
  (what CloudFormation's ``AWS::Serverless-2016-10-31`` transform does), so the linters see the
  resources that will really exist (``AWS::Lambda::Alias``, ``AWS::ApiGateway::Stage``, ...);
* ``cfn_lint``: cfn-lint on both the SAM template and its expansion, for the stage's region;
* ``checkov``: every failed check, and every skip with its reason (``Metadata.checkov.skip``);
* ``parliament_findings``: parliament on an IAM policy, minus the findings in ``PARLIAMENT_FALSE_POSITIVES``;
* ``residency_problems``: every global table replicated exactly where its law pack allows;
* ``iam_problems``: no ``*`` action, no resource outside the stage's region;
* ``zip_problems``: the deployment package holds every policy file the function reads at run time;
* when ``make package`` synthesized the CDK app (``build/STAGE/cdk.out``): its stack defines what the SAM
  template defines (``deploy.cdk.template.drift_problems``), and cfn-lint and checkov on its template.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chalicelib.settings import REGIONS
from deploy.sam import expand_sam
from deploy.stages import PROJECT_ROOT, jurisdictions, load_stage

BIN = Path(sys.executable).parent
RUNTIME_POLICY_GLOBS = ("jurisdictions/*.json", "jurisdictions/overlays/*.json", "jurisdictions/changelog/*.json",
                        "authz/*")
"""The files under ``policies/`` the function reads at run time (law packs, Cedar policies and schema)."""

PARLIAMENT_FALSE_POSITIVES: dict[tuple[str, str], str] = {
    ("UNKNOWN_CONDITION_FOR_ACTION", "kms:ResourceAliases"): (
        "kms:ResourceAliases is a condition key of the KMS 'key' resource type, valid for every action on a key "
        "(AWS Service Authorization Reference); parliament only looks at action-level keys."),
}


def cfn_lint(path: Path, region: str) -> list[str]:
    """cfn-lint's findings (errors, warnings and informational) for ``region``; empty when clean.

    In process (cfn-lint's API): the same rules as the ``cfn-lint`` command, without its ~2 s start-up.
    """
    from cfnlint.api import ManualArgs, lint_file  # type: ignore[import-untyped]

    matches = lint_file(path, config=ManualArgs(regions=[region], include_checks=["I"]))
    return [f"{match.rule.id} {match.message} ({match.filename}:{match.linenumber})" for match in matches]


@dataclass
class CheckovReport:
    failed: list[tuple[str, str, str]] = field(default_factory=list)
    """(check id, resource, check name) of every failed check."""
    skipped: list[tuple[str, str, str]] = field(default_factory=list)
    """(check id, resource, reason) of every skipped check."""
    passed: int = 0


def checkov(*paths: Path) -> dict[Path, CheckovReport]:
    """checkov on CloudFormation templates, in one run (its start-up takes ~3 s), a report per file."""
    command = [str(BIN / "checkov"), "--framework", "cloudformation", "--skip-download", "-o", "json"]
    for path in paths:
        command += ["-f", str(path)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    try:
        data = json.loads(result.stdout)
    except json.JSONDecodeError:
        raise RuntimeError(f"checkov failed to run: {result.stderr[-2000:]}") from None
    reports = {path.resolve(): CheckovReport() for path in paths}
    for run in data if isinstance(data, list) else [data]:
        results = run.get("results", {})
        for kind in ("passed_checks", "failed_checks", "skipped_checks"):
            for check in results.get(kind, []):
                report = reports[Path(check["file_abs_path"]).resolve()]
                if kind == "passed_checks":
                    report.passed += 1
                elif kind == "failed_checks":
                    report.failed.append((check["check_id"], check["resource"], check["check_name"]))
                else:
                    report.skipped.append((check["check_id"], check["resource"],
                                           check["check_result"].get("suppress_comment", "")))
    return reports


def parliament_findings(policy: dict[str, Any]) -> list[str]:
    """parliament's findings on ``policy`` that are not known false positives."""
    import parliament  # type: ignore[import-untyped]

    findings = parliament.analyze_policy_string(json.dumps(policy, indent=2)).findings
    kept = []
    for finding in findings:
        detail = str(finding.detail)
        if any(issue == finding.issue and key in detail for issue, key in PARLIAMENT_FALSE_POSITIVES):
            continue
        kept.append(f"{finding.issue}: {detail}")
    return kept


def iam_problems(policy: dict[str, Any], region: str) -> list[str]:
    """Actions must be explicit; every resource must be in ``region`` (S3: a bucket named for it;
    the global entry's KeyValueStore, which CloudFront keeps globally, only by its exact id)."""
    problems = []
    for statement in policy["Statement"]:
        sid = statement.get("Sid", "?")
        actions = statement.get("Action", [])
        for action in [actions] if isinstance(actions, str) else actions:
            if "*" in action:
                problems.append(f"{sid}: wildcard action {action}")
        if "NotAction" in statement or "NotResource" in statement:
            problems.append(f"{sid}: NotAction/NotResource")
        resources = statement.get("Resource", [])
        for resource in [resources] if isinstance(resources, str) else resources:
            parts = resource.split(":", 5)
            if resource == "*" or len(parts) < 6:
                problems.append(f"{sid}: resource {resource} is not an ARN")
            elif parts[2] == "s3":
                if not parts[5].split("/")[0].endswith(f"-{region}"):
                    problems.append(f"{sid}: bucket {resource} is not this region's")
            elif parts[2] == "cloudfront":
                if not parts[5].startswith("key-value-store/") or "*" in parts[5]:
                    problems.append(f"{sid}: {resource} is not one named key-value store")
            elif parts[3] != region:
                problems.append(f"{sid}: resource {resource} is outside {region}")
    return problems


def global_tables(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: resource for name, resource in template["Resources"].items()
            if resource.get("Type") == "AWS::DynamoDB::GlobalTable"}


def residency_problems(template: dict[str, Any]) -> list[str]:
    """Each jurisdiction's tables replicate to exactly the regions its law pack allows; the
    directory (no personal data) to the four home regions."""
    policies = {policy.code: policy for policy in jurisdictions()}
    region = template_region(template)
    problems = []
    for name, table in global_tables(template).items():
        table_name = table["Properties"]["TableName"]
        regions = [replica["Region"] for replica in table["Properties"]["Replicas"]]
        if len(set(regions)) != len(regions):
            problems.append(f"{name}: a region is listed twice")
        code = table_name.rsplit("-", 1)[-1].upper()
        if code in policies:
            policy = policies[code]
            if not set(regions) <= policy.allowed_regions:
                problems.append(f"{name}: replicas {sorted(set(regions) - policy.allowed_regions)} "
                                f"are not allowed by policies/jurisdictions/{code}.json")
            if set(regions) != policy.allowed_regions:
                problems.append(f"{name}: replicas {sorted(regions)} differ from the allowed "
                                f"{sorted(policy.allowed_regions)}")
            if region is not None and policy.home_region != region:
                problems.append(f"{name}: declared in {region}, but {code}'s home region is {policy.home_region}")
        elif table_name == "enclave-directory":
            if set(regions) != set(REGIONS):
                problems.append(f"{name}: the directory must be replicated to {list(REGIONS)}, not {regions}")
        else:
            problems.append(f"{name}: global table {table_name} belongs to no jurisdiction")
    return problems


def template_region(template: dict[str, Any]) -> str | None:
    """The region a template was rendered for, from its ``ENCLAVE_REGION`` (None without a function)."""
    for resource in template["Resources"].values():
        variables = resource.get("Properties", {}).get("Environment", {}).get("Variables", {})
        if "ENCLAVE_REGION" in variables:
            return str(variables["ENCLAVE_REGION"])
    return None


def runtime_policy_files() -> dict[str, bytes]:
    """``policies/...`` path in the zip -> expected content, for every file the function reads."""
    root = PROJECT_ROOT / "policies"
    files = {}
    for pattern in RUNTIME_POLICY_GLOBS:
        for path in sorted(root.glob(pattern)):
            if path.is_file():
                files[f"policies/{path.relative_to(root).as_posix()}"] = path.read_bytes()
    return files


def zip_problems(zip_path: Path) -> list[str]:
    problems = []
    expected = runtime_policy_files()
    if not any(name.startswith("policies/jurisdictions/") for name in expected):
        problems.append("no law packs found under policies/jurisdictions")
    if not any(name.startswith("policies/authz/") for name in expected):
        problems.append("no authorization policies found under policies/authz")
    with zipfile.ZipFile(zip_path) as archive:
        names = set(archive.namelist())
        for name, content in expected.items():
            if name not in names:
                problems.append(f"{name} is missing from {zip_path.name}")
            elif archive.read(name) != content:
                problems.append(f"{name} in {zip_path.name} differs from the repository's")
        for required in ("app.py", "chalicelib/settings.py"):
            if required not in names:
                problems.append(f"{required} is missing from {zip_path.name}")
    return problems


def cdk_template_path(stage_name: str, build_dir: Path) -> Path:
    """Where ``make package`` leaves the CDK app's template of the stage (``deploy.cdk``)."""
    from deploy.cdk.template import stack_name

    return build_dir / "cdk.out" / f"{stack_name(load_stage(stage_name))}.template.json"


def verify_stage(stage_name: str, build_dir: Path) -> list[str]:
    """Every problem of a packaged stage (empty: ready to deploy)."""
    stage = load_stage(stage_name)
    sam_path = build_dir / "sam.json"
    template = json.loads(sam_path.read_text(encoding="utf-8"))
    expanded_path = build_dir / "expanded.json"
    expanded_path.write_text(json.dumps(expand_sam(template, stage.region), indent=1), encoding="utf-8")
    problems = [f"cfn-lint sam.json: {line}" for line in cfn_lint(sam_path, stage.region)]
    problems += [f"cfn-lint expanded.json: {line}" for line in cfn_lint(expanded_path, stage.region)]
    checked = [expanded_path]
    cdk_path = cdk_template_path(stage_name, build_dir)
    if cdk_path.is_file():  # make package synthesized the CDK app too: the same checks on its template
        from deploy.cdk.template import drift_problems

        cdk_template = json.loads(cdk_path.read_text(encoding="utf-8"))
        problems += [f"CDK {cdk_path.name}: {line}" for line in drift_problems(template, cdk_template, stage.region)]
        problems += [f"cfn-lint {cdk_path.name}: {line}" for line in cfn_lint(cdk_path, stage.region)]
        checked.append(cdk_path)
    reports = checkov(*checked)
    for path in checked:
        report = reports[path.resolve()]
        problems += [f"checkov {path.name} {check} {resource}: {name}" for check, resource, name in report.failed]
        problems += [f"checkov {path.name} skip without a reason: {check} {resource}"
                     for check, resource, why in report.skipped if not why]
    policy = json.loads(stage.policy_file.read_text(encoding="utf-8"))
    problems += [f"parliament {stage.policy_file.name}: {finding}" for finding in parliament_findings(policy)]
    problems += [f"IAM {stage.policy_file.name}: {problem}" for problem in iam_problems(policy, stage.region)]
    problems += [f"residency: {problem}" for problem in residency_problems(template)]
    problems += [f"package: {problem}" for problem in zip_problems(build_dir / "deployment.zip")]
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check a packaged stage (make package STAGE=...) offline")
    parser.add_argument("stage")
    parser.add_argument("build_dir", type=Path, nargs="?")
    args = parser.parse_args(argv)
    problems = verify_stage(args.stage, args.build_dir or PROJECT_ROOT / "build" / args.stage)
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{args.stage}: {'ok' if not problems else f'{len(problems)} problem(s)'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
