"""The deployed console (``make package``) and the global entry in the directory stage's template."""

from __future__ import annotations

import json
from pathlib import Path

from deploy.console import build_site
from deploy.render import render_resources
from deploy.stages import DIRECTORY_STAGE, load_stage


def test_deployed_site_has_no_local_sign_in(tmp_path: Path) -> None:
    files = build_site(tmp_path / "site", load_stage("prod-euw2"))
    names = {f.name for f in files}
    assert {"index.html", "app.js", "hosted-signin.js", "config.json"} <= names
    assert "local-signin.js" not in names
    for file in files:
        text = file.read_text()
        assert "USER_PASSWORD_AUTH" not in text, file.name
        assert "InitiateAuth" not in text, file.name
    config = json.loads((tmp_path / "site" / "config.json").read_text())
    assert config["mode"] == "hosted"
    assert config["regions"] == {}  # one hostname: CloudFront routes each tenant
    assert all(pool["domain"].startswith("https://") for pool in config["pools"].values())


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
