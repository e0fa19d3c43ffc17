"""The deployed console (``make package``) and the global entry in the directory stage's template."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from chalicelib.settings import PROJECT_ROOT
from deploy.console import build_site, deployed_source
from deploy.render import render_resources
from deploy.stages import DIRECTORY_STAGE, load_stage


def test_deployed_site_has_no_local_sign_in(tmp_path: Path) -> None:
    files = build_site(tmp_path / "site", load_stage("prod-euw2"))
    names = {f.name for f in files}
    assert {"index.html", "app.js", "api.js", "hosted-signin.js", "config.json"} <= names
    assert "local-signin.js" not in names
    for file in files:
        text = file.read_text()
        for local in ("USER_PASSWORD_AUTH", "InitiateAuth", "local-signin", "local_cognito", "local-only",
                      'type: "password"', 'mode === "local"', "emulator"):
            assert local not in text, (file.name, local)
    assert "startHostedSignIn" in (tmp_path / "site" / "app.js").read_text()
    # what is left of each module still parses (node --check on an ES module)
    node = shutil.which("node") or "/usr/bin/node"
    for file in files:
        if file.suffix == ".js":
            module = file.with_suffix(".mjs")
            module.write_text(file.read_text())
            done = subprocess.run([node, "--check", str(module)], capture_output=True, text=True, check=False)
            assert done.returncode == 0, (file.name, done.stderr)


def test_deployed_config_takes_every_value_from_the_stage_config(tmp_path: Path) -> None:
    stage = load_stage("prod-euw2")
    build_site(tmp_path / "site", stage)
    text = (tmp_path / "site" / "config.json").read_text()
    assert "${" not in text
    config = json.loads(text)
    assert config["mode"] == "hosted"
    assert config["regions"] == {}  # one hostname: CloudFront routes each tenant
    assert config["redirect_uri"] == f"{stage.settings.console_origin}/"
    assert config["pools"] == {region: {"client_id": pool.client_id, "domain": pool.domain}
                               for region, pool in stage.settings.cognito_pools.items()}
    assert all(pool["domain"].startswith("https://") for pool in config["pools"].values())
    pools = {region: pool.model_copy(update={"domain": None}) for region, pool in stage.settings.cognito_pools.items()}
    broken = replace(stage, settings=stage.settings.model_copy(update={"cognito_pools": pools}))
    with pytest.raises(ValueError, match="hosted UI domain"):
        build_site(tmp_path / "broken", broken)


def test_make_package_renders_the_hosted_console() -> None:
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    package = makefile[makefile.index("\npackage:"):]
    assert "-m deploy.console $(STAGE) build/$(STAGE)/console" in package.split("\n\n")[0]


def test_local_only_blocks_must_be_closed() -> None:
    assert deployed_source("a\n  // local-only:begin\nb\n  // local-only:end\nc\n") == "a\nc\n"
    with pytest.raises(ValueError, match="unmatched"):
        deployed_source("a\n// local-only:begin\nb\n")


def test_global_entry_routes_through_the_function_and_keeps_the_site_private() -> None:
    resources = render_resources(DIRECTORY_STAGE)["Resources"]
    distribution = resources["GlobalEntry"]["Properties"]["DistributionConfig"]
    api = next(b for b in distribution["CacheBehaviors"] if b["PathPattern"] == "/v1/*")
    assert api["FunctionAssociations"][0]["FunctionARN"] == {"Fn::GetAtt": ["TenantRouter", "FunctionARN"]}
    origins = {o["Id"]: o for o in distribution["Origins"]}
    assert set(origins) == {"console-site", "api-ap-southeast-1", "api-ap-southeast-2", "api-eu-west-2",
                            "api-us-east-1"}
    assert "OriginAccessControlId" in origins["console-site"]
    function = resources["TenantRouter"]["Properties"]
    assert function["FunctionConfig"]["Runtime"] == "cloudfront-js-2.0"
    assert function["FunctionConfig"]["KeyValueStoreAssociations"]
    statements = resources["ConsoleBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    reader = next(s for s in statements if s["Effect"] == "Allow")
    assert reader["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert "AWS:SourceArn" in reader["Condition"]["StringEquals"]
    assert "GlobalEntry" not in render_resources("prod-euw2")["Resources"]


def test_the_console_loads_the_state_overlays_rather_than_naming_them() -> None:
    """The onboarding form offers the overlays ``GET /v1/jurisdictions/{code}`` lists: a new overlay in
    ``policies/`` reaches the console with no change to it, so no overlay's state is spelled in its code."""
    overlays = sorted((PROJECT_ROOT / "policies" / "jurisdictions" / "overlays").glob("*.json"))
    assert overlays
    source = "\n".join(path.read_text() for path in sorted((PROJECT_ROOT / "console").glob("*.js")))
    assert "/v1/jurisdictions/" in source
    for path in overlays:
        state = path.stem.split("-", 1)[1]
        for spelled in (f'"{state}"', f"'{state}'", f"`{state}`", path.stem, json.loads(path.read_text())["name"]):
            assert spelled not in source, (path.name, spelled)
