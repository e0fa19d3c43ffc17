"""Every production stage packaged as ``make package`` does, once per test session.

The session fixture ``packaged`` (tests/integration/deploy/conftest.py) calls ``package_stages``; the deploy
tests of the SAM templates (test_deploy.py) and of the CDK app (test_deploy_cdk.py) read the same packages. Each stage
is rendered (``python -m deploy.render``) and packaged with ``chalice package --merge-template`` into a
temporary folder, in subprocesses (importing ``app.py`` with a stage's environment must not leak into the
test process). The first stage downloads the Lambda wheels; Chalice caches them in ``.chalice/deployments``
(keyed by requirements.txt and vendor/), so the other three reuse them. The SAM template is also expanded
to plain CloudFormation (``aws-sam-translator``) so that cfn-lint and checkov see the resources that will
really exist. All four stages: measured ~25 s with a cold wheel cache, ~2 s per stage with a warm one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from deploy.sam import expand_sam
from deploy.stages import DEPLOY_ORDER, PROJECT_ROOT, load_stage

BIN = Path(sys.executable).parent


@dataclass
class Packaged:
    stage: str
    region: str
    directory: Path
    sam: dict[str, Any]
    expanded: dict[str, Any]
    seconds: float

    @property
    def zip_path(self) -> Path:
        return self.directory / "deployment.zip"

    def resources(self, kind: str, expanded: bool = True) -> dict[str, dict[str, Any]]:
        template = self.expanded if expanded else self.sam
        return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def clean_env(region: str) -> dict[str, str]:
    """This process's environment without the test session's AWS and Enclave settings."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "ENCLAVE_", "POWERTOOLS_", "PYTEST_"))}
    env["AWS_DEFAULT_REGION"] = region
    return env


def run(command: list[str], region: str) -> None:
    result = subprocess.run(command, cwd=PROJECT_ROOT, env=clean_env(region), capture_output=True, text=True,
                            check=False)
    if result.returncode:
        pytest.fail(f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")


def package_stages(root: Path) -> dict[str, Packaged]:
    """``root/<stage>/{resources.json,sam.json,deployment.zip,expanded.json}`` of every production stage."""
    result: dict[str, Packaged] = {}
    # As `make package`: validate the law packs, overlays and changelog and write their cache first.
    run([sys.executable, "-m", "chalicelib.adapters.lawpack_cache"], load_stage(DEPLOY_ORDER[0]).region)
    for stage in DEPLOY_ORDER:
        region = load_stage(stage).region
        out = root / stage
        started = time.perf_counter()
        run([sys.executable, "-m", "deploy.render", stage, str(out / "resources.json")], region)
        run([str(BIN / "chalice"), "--project-dir", str(PROJECT_ROOT), "package", "--stage", stage,
             "--pkg-format", "cloudformation", "--merge-template", str(out / "resources.json"), str(out)], region)
        seconds = time.perf_counter() - started
        sam = json.loads((out / "sam.json").read_text())
        expanded = expand_sam(sam, region)
        (out / "expanded.json").write_text(json.dumps(expanded, indent=1))
        result[stage] = Packaged(stage, region, out, sam, expanded, seconds)
    return result
