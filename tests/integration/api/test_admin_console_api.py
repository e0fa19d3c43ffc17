"""What the console's admin screens ask of the API: incidents listed to every caller whose scope they touch
(tenants outside it counted, never named), holds lifted with a reason kept encrypted, a regional admin
picking a learner of the region, and an offboarding request that says what its confirmation destroys."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.integration.conftest import Emulated, RegionalApi, TokenFactory
from tests.integration.services.test_holds_retention import learner_body
from tests.integration.services.test_privacy import all_items

UK, AU = "eu-west-2", "ap-southeast-2"
LIFT_REASON = "Settled with Mrs Philippa Quarrington-Holt on 3 March"


def recent(hours: float) -> str:
    return (datetime.now(UTC) - timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


def listed(app: RegionalApi, token: str) -> list[dict[str, Any]]:
    status, body = app.call("GET", "/v1/incidents?limit=200", token)
    assert status == 200, body
    return list(body["items"])


def test_an_incident_naming_a_uk_and_an_au_tenant_is_listed_to_the_uk_regional_admin_with_the_au_one_counted(
        api: dict[str, RegionalApi], onboard: Any, token: TokenFactory) -> None:
    uk = onboard("UK", name="Thames Valley School")
    au = onboard("AU", name="Coral Coast College")
    status, incident = api[UK].call("POST", "/v1/incidents", token("platform_admin", region=UK),
                                    {"discovered_at": recent(10), "tenant_ids": [uk["tenant_id"], au["tenant_id"]],
                                     "summary": "Shared drive exposed"})
    assert status == 201, incident
    mine = [i for i in listed(api[UK], token("regional_admin", region=UK))
            if i["incident_id"] == incident["incident_id"]]
    assert len(mine) == 1  # not dropped for naming a tenant of another region
    shown = mine[0]
    assert shown["tenants"] == [uk["tenant_id"]]
    assert shown["tenant_names"] == {uk["tenant_id"]: "Thames Valley School"}
    assert shown["tenants_outside_scope"] == 1
    assert au["tenant_id"] not in json.dumps(shown)  # counted, never listed
    assert {d["jurisdiction"] for d in shown["deadlines"]} == {"UK", "AU"}
    # the region's compliance officer sees it the same way; the platform admin sees both tenants named
    officer = next(i for i in listed(api[UK], token("compliance_officer", region=UK))
                   if i["incident_id"] == incident["incident_id"])
    assert (officer["tenants"], officer["tenants_outside_scope"]) == ([uk["tenant_id"]], 1)
    everything = next(i for i in listed(api[UK], token("platform_admin", region=AU))
                      if i["incident_id"] == incident["incident_id"])
    assert everything["tenant_names"] == {uk["tenant_id"]: "Thames Valley School",
                                          au["tenant_id"]: "Coral Coast College"}
    assert everything["tenants_outside_scope"] == 0
    # another region's regional admin is refused the list of this region
    status, body = api[UK].call("GET", "/v1/incidents", token("regional_admin", region=AU))
    assert status == 403, body


def test_a_hold_is_lifted_with_a_reason_kept_encrypted_and_the_lift_is_audited(
        api: dict[str, RegionalApi], onboard: Any, token: TokenFactory, emulated: Emulated) -> None:
    tenant = onboard("UK", name="Held School")["tenant_id"]
    regional = token("regional_admin", region=UK)
    holds = f"/v1/tenants/{tenant}/legal-holds"
    status, hold = api[UK].call("POST", holds, regional, {"reason": "Pending claim", "category": "litigation"})
    assert status == 201, hold
    status, body = api[UK].call("DELETE", f"{holds}/{hold['hold_id']}", regional, {"reason": "  "})
    assert (status, body["error"]["fields"][0]["field"]) == (422, "reason")
    status, lifted = api[UK].call("DELETE", f"{holds}/{hold['hold_id']}", regional, {"reason": LIFT_REASON})
    assert status == 200, lifted
    assert (lifted["active"], lifted["lift_reason"]) == (False, LIFT_REASON)
    status, again = api[UK].call("GET", holds, regional)
    assert status == 200
    assert [(h["hold_id"], h["lift_reason"]) for h in again["items"]] == [(hold["hold_id"], LIFT_REASON)]
    status, conflict = api[UK].call("DELETE", f"{holds}/{hold['hold_id']}", regional, {"reason": LIFT_REASON})
    assert status == 409, conflict
    trail = list(api[UK].container.audit_store.events(tenant, "UK"))
    lift = next(e for e in trail if e["action"] == "legal_hold.delete")
    assert lift["details"]["reason_given"] is True
    assert "Quarrington" not in json.dumps(trail)
    assert [(r, t) for r, t, text in all_items(emulated) if "Quarrington" in text] == []
    # without a body, as before: lifted, no reason recorded
    status, second = api[UK].call("POST", holds, regional, {"reason": "Second claim"})
    assert status == 201
    status, plain = api[UK].call("DELETE", f"{holds}/{second['hold_id']}", regional)
    assert (status, plain["lift_reason"]) == (200, None)


def test_a_regional_admin_lists_and_searches_the_learners_of_a_tenant_of_the_region_only(
        api: dict[str, RegionalApi], onboard: Any, token: TokenFactory) -> None:
    tenant = onboard("UK", name="Picker School")["tenant_id"]
    staff = token("tenant_staff", tenant, UK)
    path = f"/v1/tenants/{tenant}/learners"
    status, learner = api[UK].call("POST", path, staff, learner_body(7))
    assert status == 201
    regional = token("regional_admin", region=UK)
    status, page = api[UK].call("GET", path + "?limit=10", regional)
    assert status == 200, page
    assert [item["learner_id"] for item in page["items"]] == [learner["learner_id"]]
    status, found = api[UK].call("POST", path + "/search", regional, {"email": "learner7@school.example"})
    assert status == 200, found
    assert [item["learner_id"] for item in found["items"]] == [learner["learner_id"]]
    for role in ("regional_admin", "compliance_officer"):  # another region's admin, or an officer: refused
        status, body = api[UK].call("GET", path, token(role, region=AU if role == "regional_admin" else UK))
        assert status in (403, 404), (role, body)
    trail = list(api[UK].container.audit_store.events(tenant, "UK"))
    assert any(e["action"] == "learner.list" and e["actor"]["role"] == "regional_admin" for e in trail)


def test_an_offboarding_request_names_its_waiting_period_and_what_confirming_destroys(
        api: dict[str, RegionalApi], onboard: Any, token: TokenFactory) -> None:
    tenant = onboard("UK", name="Leaving School")["tenant_id"]
    status, pending = api[UK].call("DELETE", f"/v1/tenants/{tenant}", token("platform_admin", region=UK))
    assert status == 202, pending
    assert pending["waiting_days"] == 30
    assert any("learner record" in line for line in pending["destroys"])
    assert any("audit trail" in line for line in pending["keeps"])
    status, early = api[UK].call("DELETE", f"/v1/tenants/{tenant}?confirm={pending['offboarding_id']}",
                                 token("platform_admin", region=UK))
    assert (status, early["error"]["reason"]) == (409, "offboarding_waiting_period")
