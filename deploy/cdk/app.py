"""The CDK stacks: a stage's packaged template and the replica regions' keys, included as they are.

``build_app(stages, build_dir, outdir)`` defines, in one ``cdk.App``:

* ``enclave-<stage>`` for each stage packaged in ``build_dir/<stage>`` (``sam.json``,
  ``deployment.zip``: the output of ``make package``), in the stage's region;
* ``enclave-replica-keys`` in each replica-only region (``deploy.stages.key_only_regions``), from
  ``deploy.render.render_key_region``, written to ``build_dir/keys-<region>.json`` as on the SAM path.

``synth`` synthesizes the cloud assembly and says where each stack's template is; a finding of CDK's own
template validation that is not acknowledged in ``ACKNOWLEDGED`` (with its reason) stops it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import cloudformation_include as cfn_include
from constructs import Construct

from deploy.cdk.template import (
    PLACEHOLDER_BUCKET,
    REPLICA_KEYS_STACK,
    Template,
    code_locations,
    included_template,
    missing_packages,
    stack_name,
    validation_findings,
)
from deploy.render import render_key_region, write
from deploy.stages import Stage, key_only_regions, load_stage

ACKNOWLEDGED: dict[str, tuple[str, str]] = {
    "AWS::Lambda::Version": ("CloudFormation-Validate::W3011", (
        "the SAM transform publishes each code change as a version under a new logical id, retained on delete; "
        "a version is never replaced in place, so UpdateReplacePolicy would never apply")),
}
"""Findings of CDK's built-in template validation that do not apply, by resource type, each with the
reason; acknowledged on those resources only."""


class StageStack(cdk.Stack):
    """One production stage: ``sam.json`` expanded and included, ``deployment.zip`` as its asset."""

    def __init__(self, scope: Construct, stage: Stage, package_dir: Path) -> None:
        name = stack_name(stage)
        super().__init__(scope, name, stack_name=name, env=cdk.Environment(region=stage.region))
        sam: Template = json.loads((package_dir / "sam.json").read_text(encoding="utf-8"))
        package = s3_assets.Asset(self, "DeploymentPackage", path=str(package_dir / "deployment.zip"))
        if cdk.Token.is_unresolved(package.s3_object_key):
            raise ValueError("the asset's object key must be known at synth time (it names the Lambda version)")
        template = included_template(sam, stage.region, package.s3_object_key)
        for code in code_locations(template).values():
            if code.get("S3Bucket") != PLACEHOLDER_BUCKET:
                raise ValueError(f"unexpected code location {code}")
            code["S3Bucket"] = package.s3_bucket_name
        path = package_dir / "cdk-included.json"
        path.write_text(json.dumps(template, indent=1) + "\n", encoding="utf-8")
        self.included = cfn_include.CfnInclude(self, "Template", template_file=str(path))
        for logical_id, resource in template["Resources"].items():
            if resource["Type"] in ACKNOWLEDGED:
                rule, reason = ACKNOWLEDGED[resource["Type"]]
                cdk.Validations.of(self.included.get_resource(logical_id)).acknowledge(
                    cdk.Acknowledgment(id=rule, reason=reason))


class ReplicaKeysStack(cdk.Stack):
    """A replica-only region's ``alias/enclave-data`` key."""

    def __init__(self, scope: Construct, region: str, build_dir: Path) -> None:
        super().__init__(scope, f"{REPLICA_KEYS_STACK}-{region}", stack_name=REPLICA_KEYS_STACK,
                         env=cdk.Environment(region=region))
        path = build_dir / f"keys-{region}.json"
        write(render_key_region(region), path)
        self.included = cfn_include.CfnInclude(self, "Template", template_file=str(path))


def build_app(stages: list[str], build_dir: Path, outdir: Path | None = None) -> cdk.App:
    """The app: the given stages (packaged under ``build_dir``) and every replica-only region's keys.

    ``outdir`` None: the CDK CLI's (``CDK_OUTDIR``, when it runs the app through ``cdk.json``)."""
    problems = missing_packages(stages, build_dir)
    if problems:
        raise ValueError("; ".join(problems))
    app = cdk.App(outdir=str(outdir) if outdir else None, analytics_reporting=False)
    for name in stages:
        StageStack(app, load_stage(name), build_dir / name)
    for region in key_only_regions():
        ReplicaKeysStack(app, region, build_dir)
    return app


@dataclass(frozen=True)
class Synthesized:
    """A synthesized stack: its CloudFormation name, region and template file in the cloud assembly."""

    stack_name: str
    region: str
    template_path: Path


def synth(stages: list[str], build_dir: Path, outdir: Path) -> dict[str, Synthesized]:
    """Synthesize the app into ``outdir``; construct id -> stack (ValueError on a validation finding)."""
    (outdir / "validation-report.json").unlink(missing_ok=True)  # a previous run's must not speak for this one
    assembly = build_app(stages, build_dir, outdir).synth()
    findings = validation_findings(outdir)
    if findings:
        raise ValueError("CDK template validation: " + "; ".join(findings))
    return {stack.id: Synthesized(stack.stack_name, stack.environment.region,
                                  Path(assembly.directory) / stack.template_file)
            for stack in assembly.stacks}
