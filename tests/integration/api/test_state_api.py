"""A tenant's state through the API: declared at onboarding, refused when unknown, and deciding deadlines."""

from __future__ import annotations

from typing import Any

from tests.integration.conftest import HOME, RegionalApi, TokenFactory
from tests.integration.services.test_holds_retention import learner_body

US, AU = HOME["US"], HOME["AU"]


def onboard(api: dict[str, RegionalApi], token: TokenFactory, body: dict[str, Any]) -> tuple[int, Any]:
    region = HOME[body["jurisdiction"]]
    return api[region].call("POST", "/v1/tenants", token("platform_admin", region=region),
                            {"name": "State School", "kind": "school", **body})


def test_a_us_tenant_declares_its_state_and_every_region_knows_it(api: dict[str, RegionalApi],
                                                                   token: TokenFactory) -> None:
    status, tenant = onboard(api, token, {"jurisdiction": "US", "state": "ny"})
    assert status == 201, tenant
    assert tenant["state"] == "NY"
    assert "sector" not in tenant
    status, read = api["eu-west-2"].call("GET", f"/v1/tenants/{tenant['tenant_id']}", token("platform_admin"))
    assert status == 200
    assert read == {key: value for key, value in tenant.items() if key != "edge_route"}


def test_an_unknown_state_is_refused_with_a_clear_422(api: dict[str, RegionalApi], token: TokenFactory) -> None:
    status, body = onboard(api, token, {"jurisdiction": "US", "state": "ZZ"})
    assert status == 422
    assert body["error"]["code"] == "validation_failed"
    [problem] = body["error"]["fields"]
    assert problem["field"] == "state"
    assert "unknown state of US" in problem["message"]
    assert "NY" in problem["message"]


def test_a_state_where_the_jurisdiction_has_none_is_refused(api: dict[str, RegionalApi], token: TokenFactory) -> None:
    status, body = onboard(api, token, {"jurisdiction": "UK", "state": "NY"})
    assert status == 422
    assert body["error"]["fields"][0]["field"] == "state"
    status, body = onboard(api, token, {"jurisdiction": "US", "state": "New York"})
    assert status == 422
    assert body["error"]["code"] == "validation_failed"
    status, body = onboard(api, token, {"jurisdiction": "AU", "state": "NSW", "sector": "federal"})
    assert status == 422


def test_new_york_and_illinois_incidents_take_their_state_deadlines(api: dict[str, RegionalApi],
                                                                     token: TokenFactory) -> None:
    ids = {}
    for state in ("NY", "IL"):
        status, tenant = onboard(api, token, {"jurisdiction": "US", "state": state})
        assert status == 201
        ids[state] = tenant["tenant_id"]
    status, incident = api[US].call("POST", "/v1/incidents", token("platform_admin", region=US), {
        "discovered_at": "2026-03-02T10:00:00Z", "tenant_ids": [ids["NY"], ids["IL"]], "summary": "Lost laptop"})
    assert status == 201, incident
    notify = {d["state"]: d for d in incident["deadlines"] if (d["party"], d["action"]) == ("individuals", "notify")}
    assert notify["NY"]["due_at"] == "2026-05-01T10:00:00Z"
    assert notify["NY"]["applied_rule"] == "US-NY"
    assert notify["IL"]["due_at"] == "2026-04-01T10:00:00Z"
    assert notify["IL"]["applied_rule"] == "US-IL"
    assert notify["NY"]["confidence"] == "unconfirmed"
    assert notify["IL"]["confidence"] == "confirmed"  # 105 ILCS 85/27, checked by the legal review
    for deadline in notify.values():
        assert deadline["rule"]
        assert deadline["source"]
        assert deadline["other_rules"][0]["applied_rule"] == "US"


def test_a_nsw_government_school_request_names_the_state_rule(api: dict[str, RegionalApi],
                                                              token: TokenFactory) -> None:
    status, tenant = onboard(api, token, {"jurisdiction": "AU", "state": "NSW", "sector": "government"})
    assert status == 201, tenant
    assert (tenant["state"], tenant["sector"]) == ("NSW", "government")
    tid = tenant["tenant_id"]
    status, learner = api[AU].call("POST", f"/v1/tenants/{tid}/learners", token("tenant_staff", tid, AU),
                                   learner_body(1))
    assert status == 201, learner
    status, request = api[AU].call("POST", f"/v1/tenants/{tid}/requests", token("tenant_admin", tid, AU), {
        "learner_id": learner["learner_id"], "type": "rectification", "received_at": "2026-03-02T09:00:00Z"})
    assert status == 201, request
    assert request["deadline"]["applied_rule"] == "AU/government"  # NSW's overlay has no rectification rule
    status, request = api[AU].call("POST", f"/v1/tenants/{tid}/requests", token("tenant_admin", tid, AU), {
        "learner_id": learner["learner_id"], "type": "access", "received_at": "2026-03-02T09:00:00Z"})
    assert status == 201, request
    assert request["deadline"]["applied_rule"] == "AU-NSW"
    assert request["due_at"].startswith("2026-03-30T09:00:00")
    assert "GIPA Act 2009 (NSW) s57" in request["deadline"]["sources"]


def test_the_jurisdiction_route_shows_the_overlays_and_the_changelog(api: dict[str, RegionalApi],
                                                                     token: TokenFactory) -> None:
    status, view = api[US].call("GET", "/v1/jurisdictions/US", token("platform_admin", region=US))
    assert status == 200
    assert set(view["overlays"]) == {"CA", "IL", "NY", "TX"}
    assert view["overlays"]["IL"]["breach"][0]["sources"] == ["105 ILCS 85/27"]
    assert any(change["pack"] == "US-CA" and change["effective"] == "2026-01-01" for change in view["changelog"])
    status, listing = api[AU].call("GET", "/v1/jurisdictions", token("platform_admin", region=AU))
    assert status == 200
    au = next(item for item in listing["items"] if item["code"] == "AU")
    assert au["overlays"]["NSW"]["sectors"] == ["government"]
