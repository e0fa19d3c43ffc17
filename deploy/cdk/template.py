"""A stage's template as its CDK stack includes it, and the check that it says what the SAM template says.

``included_template(sam, region, code_key)`` expands ``sam.json`` (``deploy.sam.expand_sam``) with
every function's ``CodeUri`` at ``s3://PLACEHOLDER_BUCKET/<code_key>``. ``code_key`` is the CDK asset's
object key, the hash of ``deployment.zip``: the SAM translator names the published Lambda version after
the code location (``APIHandlerVersion<hash>``), so new code publishes a new version for the ``live``
alias, as ``aws cloudformation package`` makes it do on the SAM path. ``app`` then swaps the placeholder
bucket for the asset bucket.

``drift_problems(sam, synthesized, region)`` is empty when a synthesized stack defines exactly what the
SAM template defines: the same logical ids and types (a SAM function as ``AWS::Lambda::Function``, the
SAM API as ``AWS::ApiGateway::RestApi``), the same properties, policies and metadata, the same outputs,
and nothing else but what the SAM transform itself adds (versions, aliases, stages, permissions).

Also here, so that checking an assembly needs neither jsii nor Node.js: the stacks' names
(``stack_name``, ``REPLICA_KEYS_STACK``) and ``validation_findings`` of CDK's template validation report.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from deploy.sam import expand_sam
from deploy.stages import Stage

Template = dict[str, Any]

REPLICA_KEYS_STACK = "enclave-replica-keys"
"""The CloudFormation name of each replica-only region's key stack (as on the SAM path)."""
PLACEHOLDER_BUCKET = "enclave-cdk-asset"
"""Stands for the CDK asset bucket while the SAM translator runs (its name is a token until deploy)."""
CODE_URI = "./deployment.zip"
"""What ``chalice package`` writes as every function's ``CodeUri``."""
SAM_TYPES = {"AWS::Serverless::Function": "AWS::Lambda::Function", "AWS::Serverless::Api": "AWS::ApiGateway::RestApi"}
"""The SAM resource types Chalice emits, and what each logical id becomes once expanded."""
FUNCTION_KEYS = ("FunctionName", "Handler", "Runtime", "MemorySize", "Timeout", "Environment", "Role",
                 "ReservedConcurrentExecutions", "SnapStart", "Architectures", "Layers")
"""Function properties the SAM transform copies unchanged (the others move to the version, alias or events)."""
RESOURCE_ATTRIBUTES = ("DeletionPolicy", "UpdateReplacePolicy", "Condition", "DependsOn", "Metadata")
PARAMETERS_OF_CDK = {"BootstrapVersion"}
RULES_OF_CDK = {"CheckBootstrapVersion"}
"""The one parameter and rule CDK's default synthesizer adds: the bootstrap stack's version."""


def stack_name(stage: Stage) -> str:
    """The stack's CloudFormation name: the same as on the SAM path (IAM policies are scoped to it)."""
    return f"{stage.app_name}-{stage.name}"


def validation_findings(outdir: Path) -> list[str]:
    """Unacknowledged findings of CDK's template validation (its report, when it wrote one)."""
    report = outdir / "validation-report.json"
    if not report.is_file():
        return []
    findings = []
    for plugin in json.loads(report.read_text(encoding="utf-8")).get("pluginReports", []):
        for violation in plugin.get("violations", []):
            places = [c.get("constructPath", "?") for c in violation.get("violatingConstructs", [])]
            findings.append(f"{plugin.get('pluginName')} {violation.get('ruleName')}: "
                            f"{violation.get('description')} ({', '.join(places)})")
    return findings


def missing_packages(stages: list[str], build_dir: Path) -> list[str]:
    """What ``make package`` has not yet written for ``stages`` under ``build_dir`` (empty: ready)."""
    problems = []
    for name in stages:
        missing = [file for file in ("sam.json", "deployment.zip") if not (build_dir / name / file).is_file()]
        if missing:
            problems.append(f"{build_dir / name} has no {' or '.join(missing)}: run make package STAGE={name} first")
    return problems


def included_template(sam: Template, region: str, code_key: str) -> Template:
    """``sam`` as plain CloudFormation, every function's code at ``PLACEHOLDER_BUCKET``/``code_key``."""
    template = copy.deepcopy(sam)
    for name, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::LayerVersion":
            raise ValueError(f"{name}: Chalice layers are not packaged into the CDK app")
        if resource["Type"] == "AWS::Serverless::Function":
            uri = resource["Properties"].get("CodeUri")
            if uri != CODE_URI:
                raise ValueError(f"{name}: CodeUri {uri!r}, expected {CODE_URI!r} (the output of chalice package)")
    return expand_sam(template, region, code_uri=f"s3://{PLACEHOLDER_BUCKET}/{code_key}")


def code_locations(template: Template) -> dict[str, Any]:
    """Logical id -> ``Code`` of every Lambda function in ``template``."""
    return {name: resource["Properties"]["Code"] for name, resource in template["Resources"].items()
            if resource["Type"] == "AWS::Lambda::Function"}


def _normalized(value: Any, aliases: dict[str, str]) -> Any:
    """``value`` with tag lists sorted by key (CDK's tag manager sorts them; the order means nothing) and
    SAM's ``{"Ref": "Function.Alias"}`` as the alias's logical id (what the transform makes of it)."""
    if isinstance(value, dict):
        ref = value.get("Ref")
        if len(value) == 1 and isinstance(ref, str) and ref in aliases:
            return {"Ref": aliases[ref]}
        return {key: (_sorted_tags(item) if key == "Tags" else _normalized(item, aliases))
                for key, item in value.items()}
    if isinstance(value, list):
        return [_normalized(item, aliases) for item in value]
    return value


def _sorted_tags(tags: Any) -> Any:
    if isinstance(tags, list) and all(isinstance(tag, dict) and "Key" in tag for tag in tags):
        return sorted(tags, key=lambda tag: str(tag["Key"]))
    return tags


def _sam_aliases(sam: Template) -> dict[str, str]:
    """``Function.Alias`` -> the logical id of the alias SAM's ``AutoPublishAlias`` creates."""
    return {f"{name}.Alias": f"{name}Alias{resource['Properties']['AutoPublishAlias']}"
            for name, resource in sam["Resources"].items()
            if resource["Type"] == "AWS::Serverless::Function" and "AutoPublishAlias" in resource["Properties"]}


def _without_code(template: Template) -> Template:
    stripped: Template = _normalized(copy.deepcopy(template), {})
    for resource in stripped["Resources"].values():
        if resource["Type"] == "AWS::Lambda::Function":
            resource["Properties"].pop("Code", None)
    return stripped


def _code_key(synthesized: Template) -> str | None:
    keys = {json.dumps(code.get("S3Key")) for code in code_locations(synthesized).values()}
    if len(keys) != 1:
        return None
    key = json.loads(keys.pop())
    return key if isinstance(key, str) else None


def sam_level_problems(sam: Template, synthesized: Template) -> list[str]:
    """Every SAM resource under its logical id with its type and key properties; no other output."""
    problems = []
    resources = _normalized(synthesized["Resources"], {})
    for name, resource in _normalized(sam["Resources"], _sam_aliases(sam)).items():
        kind = resource["Type"]
        other = resources.get(name)
        if other is None:
            problems.append(f"{name} ({kind}) is missing")
            continue
        if other["Type"] != SAM_TYPES.get(kind, kind):
            problems.append(f"{name}: type {other['Type']}, the SAM template says {kind}")
            continue
        props, others = resource.get("Properties", {}), other.get("Properties", {})
        if kind == "AWS::Serverless::Function":
            problems += [f"{name}: {key} differs" for key in FUNCTION_KEYS if props.get(key) != others.get(key)]
        elif kind == "AWS::Serverless::Api":
            if props.get("DefinitionBody") != others.get("Body"):
                problems.append(f"{name}: the API definition differs")
        else:
            if props != others:
                problems.append(f"{name}: properties differ")
            problems += [f"{name}: {attribute} differs" for attribute in RESOURCE_ATTRIBUTES
                         if resource.get(attribute) != other.get(attribute)]
    if sam.get("Outputs", {}) != synthesized.get("Outputs", {}):
        problems.append("the outputs differ")
    return problems


def drift_problems(sam: Template, synthesized: Template, region: str) -> list[str]:
    """Where a synthesized stage stack differs from ``sam`` (empty: it defines the same thing)."""
    problems = sam_level_problems(sam, synthesized)
    extra_parameters = set(synthesized.get("Parameters", {})) - PARAMETERS_OF_CDK
    extra_rules = set(synthesized.get("Rules", {})) - RULES_OF_CDK
    problems += [f"parameter {name} is not in the SAM template" for name in sorted(extra_parameters)]
    problems += [f"rule {name} is not in the SAM template" for name in sorted(extra_rules)]
    key = _code_key(synthesized)
    if key is None:
        return [*problems, "the functions do not share one deployment package"]
    expected = _without_code(included_template(sam, region, key))["Resources"]
    actual = _without_code(synthesized)["Resources"]
    problems += [f"{name} ({actual[name]['Type']}) is neither in the SAM template nor made by its transform"
                 for name in sorted(actual.keys() - expected.keys())]
    problems += [f"{name} ({expected[name]['Type']}) of the SAM expansion is missing"
                 for name in sorted(expected.keys() - actual.keys())]
    problems += [f"{name} differs from the SAM expansion" for name in sorted(expected.keys() & actual.keys())
                 if expected[name] != actual[name]]
    return problems
