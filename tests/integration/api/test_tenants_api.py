"""Tenant directory, residency routing, authorization and the error shape, through the Chalice app."""

from __future__ import annotations

import io
from typing import Any

import pytest

from tests.integration.conftest import HOME, RegionalApi, TokenFactory

REGIONS = list(HOME.values())


def assert_error(body: Any, code: str | None = None) -> None:
    assert isinstance(body, dict)
    assert isinstance(body.get("error"), dict)
    assert {"code", "message"} <= body["error"].keys()
    if code:
        assert body["error"]["code"] == code


def test_health_names_each_region(api: dict[str, RegionalApi]) -> None:
    for region in REGIONS:
        status, body = api[region].call("GET", "/v1/health")
        assert status == 200
        assert body == {"status": "ok", "region": region, "stage": "test"}


def test_openapi_lists_every_route_with_its_body_schema(api: dict[str, RegionalApi]) -> None:
    status, doc = api["eu-west-2"].call("GET", "/v1/openapi.json")
    assert status == 200
    assert doc["openapi"].startswith("3")
    assert {"/v1/tenants", "/v1/tenants/{tenant_id}", "/v1/health", "/v1/jurisdictions"} <= set(doc["paths"])
    create = doc["paths"]["/v1/tenants"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("TenantCreate")
    assert "jurisdiction" in doc["components"]["schemas"]["TenantCreate"]["properties"]


def test_onboarded_tenant_is_known_to_every_region(api: dict[str, RegionalApi], token: TokenFactory) -> None:
    admin = token("platform_admin", region="eu-west-2")
    status, tenant = api["eu-west-2"].call("POST", "/v1/tenants", admin,
                                           {"name": "Hill School", "kind": "school", "jurisdiction": "UK"})
    assert status == 201
    assert tenant["home_region"] == "eu-west-2"
    assert tenant["tenant_id"].startswith("tnt_")
    assert tenant["created_at"].endswith("Z")
    # no routing table configured (tests/integration/services/test_edge_routes.py has one)
    assert tenant.pop("edge_route") == "disabled"
    for region in REGIONS:
        status, body = api[region].call("GET", f"/v1/tenants/{tenant['tenant_id']}", admin)
        assert status == 200, region
        assert body == tenant


def test_a_retried_onboarding_with_the_same_idempotency_key_creates_one_tenant(
        api: dict[str, RegionalApi], token: TokenFactory) -> None:
    eu, admin = api["eu-west-2"], token("platform_admin", region="eu-west-2")
    body, key = {"name": "Retry School", "kind": "school", "jurisdiction": "UK"}, {"Idempotency-Key": "onboard-1"}
    status, first = eu.call("POST", "/v1/tenants", admin, body, headers=key)
    assert status == 201, first
    status, again = eu.call("POST", "/v1/tenants", admin, body, headers=key)
    assert (status, again) == (201, first)
    status, other = eu.call("POST", "/v1/tenants", admin, {**body, "name": "Other School"}, headers=key)
    assert (status, other["error"]["reason"]) == (409, "idempotency_key_reused")
    status, fresh = eu.call("POST", "/v1/tenants", admin, body, headers={"Idempotency-Key": "onboard-2"})
    assert status == 201
    assert fresh["tenant_id"] != first["tenant_id"]
    status, listed = eu.call("GET", "/v1/tenants?limit=200", admin)
    assert [t["tenant_id"] for t in listed["items"] if t["tenant_id"] == first["tenant_id"]] == [first["tenant_id"]]


def test_onboarding_sent_to_another_region_points_to_the_home_region(
        api: dict[str, RegionalApi], token: TokenFactory) -> None:
    status, body = api["ap-southeast-1"].call("POST", "/v1/tenants", token("platform_admin"),
                                              {"name": "Hill School", "kind": "school", "jurisdiction": "UK"})
    assert status == 421
    assert_error(body, "residency_misdirected")
    assert body["error"]["home_region"] == "eu-west-2"
    assert body["error"]["endpoint"] == "https://eu-west-2.enclave.test"


@pytest.mark.parametrize(("role", "pool_region", "expected"), [
    ("regional_admin", "ap-southeast-2", 201),
    ("regional_admin", "eu-west-2", 403),
    ("compliance_officer", "ap-southeast-2", 403),
])
def test_regional_admins_onboard_only_in_their_region(
        api: dict[str, RegionalApi], token: TokenFactory, role: str, pool_region: str, expected: int) -> None:
    status, body = api["ap-southeast-2"].call("POST", "/v1/tenants", token(role, region=pool_region),
                                              {"name": "Reef College", "kind": "review_center",
                                               "jurisdiction": "AU"})
    assert status == expected, body


def test_tenant_staff_cannot_onboard(api: dict[str, RegionalApi], token: TokenFactory, onboard: Any) -> None:
    tenant = onboard("US")
    staff = token("tenant_staff", tenant["tenant_id"], "us-east-1")
    status, body = api["us-east-1"].call("POST", "/v1/tenants", staff,
                                         {"name": "X", "kind": "school", "jurisdiction": "US"})
    assert status == 403
    assert_error(body, "forbidden")


def test_tenant_read_is_scoped(api: dict[str, RegionalApi], token: TokenFactory, onboard: Any) -> None:
    mine, other = onboard("UK"), onboard("UK")
    staff = token("tenant_staff", mine["tenant_id"], "eu-west-2")
    assert api["eu-west-2"].call("GET", f"/v1/tenants/{mine['tenant_id']}", staff)[0] == 200
    status, body = api["eu-west-2"].call("GET", f"/v1/tenants/{other['tenant_id']}", staff)
    assert status == 404
    assert_error(body, "not_found")
    # out of region scope: as if it did not exist; in scope: allowed
    assert api["eu-west-2"].call("GET", f"/v1/tenants/{mine['tenant_id']}",
                                 token("compliance_officer", region="us-east-1"))[0] == 404
    assert api["us-east-1"].call("GET", f"/v1/tenants/{mine['tenant_id']}",
                                 token("compliance_officer", region="eu-west-2"))[0] == 200
    assert api["eu-west-2"].call("GET", f"/v1/tenants/{mine['tenant_id']}",
                                 token("regional_admin", region="eu-west-2"))[0] == 200


@pytest.mark.parametrize("tenant_id", ["tnt_" + "a" * 26, "nonsense", "tnt_" + "A" * 26, "x" * 300])
def test_unknown_or_malformed_tenant_ids_are_404(api: dict[str, RegionalApi], token: TokenFactory,
                                                 tenant_id: str) -> None:
    status, body = api["eu-west-2"].call("GET", f"/v1/tenants/{tenant_id}", token("platform_admin"))
    assert status == 404
    assert_error(body, "not_found")


def test_bad_bodies_get_clear_errors_and_create_nothing(api: dict[str, RegionalApi], token: TokenFactory) -> None:
    admin = token("platform_admin", region="eu-west-2")
    eu = api["eu-west-2"]
    status, body = eu.call("POST", "/v1/tenants", admin, raw=b"{not json")
    assert status == 400
    assert_error(body, "malformed_json")
    status, body = eu.call("POST", "/v1/tenants", admin, {"name": "", "kind": "castle", "jurisdiction": "XX"})
    assert status == 422
    assert_error(body, "validation_failed")
    assert {f["field"] for f in body["error"]["fields"]} == {"name", "kind", "jurisdiction"}
    status, body = eu.call("POST", "/v1/tenants", admin, {"name": "A", "kind": "school", "jurisdiction": "UK",
                                                           "admin_email": "someone@example.com"})
    assert status == 422
    assert "someone@example.com" not in str(body)
    status, body = eu.call("POST", "/v1/tenants", admin, ["not", "an", "object"])
    assert status == 422
    status, body = eu.call("POST", "/v1/tenants", admin, raw=b'{"name": "' + b"x" * (1024 * 1024) + b'"}')
    assert status == 413
    assert_error(body, "payload_too_large")
    deep: Any = "leaf"
    for _ in range(100):
        deep = {"d": deep}
    status, body = eu.call("POST", "/v1/tenants", admin, deep)
    assert status == 400


def test_missing_or_malformed_credentials_are_401(api: dict[str, RegionalApi]) -> None:
    eu = api["eu-west-2"]
    for headers in ({}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer"},
                    {"Authorization": "Bearer not.a.jwt"}):
        status, body = eu.call("GET", "/v1/jurisdictions", headers=headers)
        assert status == 401, headers
        assert_error(body, "unauthenticated")


def test_jurisdictions_are_served_from_the_law_packs(api: dict[str, RegionalApi], token: TokenFactory) -> None:
    staff_token = token("compliance_officer", region="ap-southeast-1")
    status, body = api["ap-southeast-1"].call("GET", "/v1/jurisdictions", staff_token)
    assert status == 200
    assert sorted(item["code"] for item in body["items"]) == ["AU", "PH", "UK", "US"]
    status, uk = api["ap-southeast-1"].call("GET", "/v1/jurisdictions/uk", staff_token)
    assert status == 200
    assert uk["code"] == "UK"
    assert "eu-west-2" in str(uk)
    status, body = api["ap-southeast-1"].call("GET", "/v1/jurisdictions/XX", staff_token)
    assert status == 404
    assert_error(body, "not_found")


def test_caller_input_in_a_path_never_reaches_the_logs(api: dict[str, RegionalApi], token: TokenFactory,
                                                       captured_logs: io.StringIO) -> None:
    status, _ = api["eu-west-2"].call("GET", "/v1/tenants/pasted.by.mistake@example.org",
                                      token("platform_admin"))
    assert status == 404
    logs = captured_logs.getvalue()
    assert "request served" in logs  # the request was logged...
    assert "pasted.by.mistake" not in logs  # ...without the path's content


def test_request_lines_carry_region_tenant_and_role(api: dict[str, RegionalApi], token: TokenFactory,
                                                    onboard: Any, captured_logs: io.StringIO) -> None:
    import json

    tenant = onboard("UK")
    staff = token("tenant_staff", tenant["tenant_id"], "eu-west-2")
    assert api["eu-west-2"].call("GET", f"/v1/tenants/{tenant['tenant_id']}", staff)[0] == 200
    served = [json.loads(line) for line in captured_logs.getvalue().splitlines() if "request served" in line]
    line = served[-1]
    assert (line["tenant_id"], line["role"], line["status"]) == (tenant["tenant_id"], "tenant_staff", 200)
    assert line["request_id"]
    assert line["region"]
