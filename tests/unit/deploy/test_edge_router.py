"""The global entry's CloudFront Function, run under Node with the KeyValueStore's documented interface mocked."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from chalicelib.domain.ids import new_id
from chalicelib.settings import PROJECT_ROOT
from deploy.console import kvs_entries

ROUTER = PROJECT_ROOT / "deploy" / "edge" / "router.js"
HARNESS = Path(__file__).parent / "edge" / "harness.mjs"
HOME = {"PH": "ap-southeast-1", "AU": "ap-southeast-2", "UK": "eu-west-2", "US": "us-east-1"}


def route(store: dict[str, str], requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    node = shutil.which("node") or "/usr/bin/node"
    if not Path(node).exists():
        pytest.fail("node is needed to run the CloudFront Function")
    done = subprocess.run([node, str(HARNESS), str(ROUTER)], input=json.dumps({"store": store, "requests": requests}),
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    result: list[dict[str, Any]] = json.loads(done.stdout)
    return result


def request(uri: str, country: str | None = None, region: str | None = None) -> dict[str, Any]:
    headers = {"cloudfront-viewer-country": {"value": country}} if country else {}
    if region:
        headers["x-enclave-region"] = {"value": region}
    return {"method": "GET", "uri": uri, "querystring": {}, "headers": headers, "cookies": {}}


def test_each_jurisdictions_tenant_goes_to_its_home_region() -> None:
    tenants = {code: new_id("tnt") for code in HOME}
    store = {tenant: HOME[code] for code, tenant in tenants.items()}
    results = route(store, [request(f"/v1/tenants/{tenants[code]}/learners", country="US") for code in HOME])
    assert [r["origin"] for r in results] == [f"api-{HOME[code]}" for code in HOME]
    assert all(r["uri"].startswith("/v1/tenants/") for r in results)


def test_unknown_tenant_is_404_in_the_error_shape_and_no_tenant_goes_to_the_nearest_region() -> None:
    known = new_id("tnt")
    results = route({known: "eu-west-2"}, [
        request(f"/v1/tenants/{new_id('tnt')}"), request("/v1/tenants/not-an-id/learners"),
        request("/v1/jurisdictions", country="AU"), request("/v1/tenants", country="GB"),
        request("/v1/health"), request(f"/v1/tenants/{known}", country="AU"),
    ])
    assert results[0] == {"status": 404, "body": {"error": {"code": "not_found", "message": "no such tenant"}}}
    assert results[1]["origin"] == "api-us-east-1"  # no tenant id in the path: the API answers 404 itself
    assert [r["origin"] for r in results[2:]] == ["api-ap-southeast-2", "api-eu-west-2", "api-us-east-1",
                                                   "api-eu-west-2"]


def test_the_key_value_store_holds_tenant_ids_and_regions_only() -> None:
    tenant = {"tenant_id": new_id("tnt"), "name": "Hill School", "kind": "school", "jurisdiction": "UK",
              "home_region": "eu-west-2", "created_at": "2026-11-28T10:00:00Z"}
    entries = kvs_entries([tenant])
    assert entries == [{"key": tenant["tenant_id"], "value": "eu-west-2"}]
    text = json.dumps(entries)
    for value in ("Hill School", "school", "2026-11-28", "@"):
        assert value not in text


def test_the_console_names_the_region_of_a_path_without_tenant_and_never_overrides_a_tenants_home() -> None:
    known = new_id("tnt")
    results = route({known: "ap-southeast-1"}, [
        request("/v1/tenants", country="GB", region="ap-southeast-1"),
        request("/v1/incidents", country="US", region="eu-west-2"),
        request("/v1/tenants", country="GB", region="mars-north-1"),  # not a region: the nearest one
        request(f"/v1/tenants/{known}/learners", country="GB", region="eu-west-2"),
    ])
    assert [r["origin"] for r in results] == ["api-ap-southeast-1", "api-eu-west-2", "api-eu-west-2",
                                              "api-ap-southeast-1"]
