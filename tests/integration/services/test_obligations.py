"""Standing obligations: what a school is audited on beyond deadlines, listed per tenant with evidence.

Sources, as the packs state them: FERPA 34 CFR 99.7 (annual notification of rights) and 99.37 (directory
information opt-outs); COPPA 16 CFR 312.5(a)(2) and 312.10 as amended in 2025 (compliance from
2026-04-22); NY Education Law 2-d and 8 NYCRR Part 121 (Parents' Bill of Rights, a data protection
officer, complaints answered within 60 days, a contractor's 7-day notice, the 10-day report to NYSED);
PH NPC registration and the annual security-incident report; AU Children's Online Privacy Code (pending).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.integration.conftest import HOME, RegionalApi, TokenFactory
from tests.integration.services.test_requests import Clock, clocked

__all__ = ["clocked"]  # a fixture used by name

US, PH, AU = HOME["US"], HOME["PH"], HOME["AU"]


def onboard(api: RegionalApi, token: TokenFactory, body: dict[str, Any]) -> str:
    region = HOME[body["jurisdiction"]]
    status, tenant = api.call("POST", "/v1/tenants", token("platform_admin", region=region),
                              {"name": "Obligated School", "kind": "school", **body})
    assert status == 201, tenant
    return str(tenant["tenant_id"])


def obligations(api: RegionalApi, token: str, tenant_id: str) -> dict[str, dict[str, Any]]:
    status, listing = api.call("GET", f"/v1/tenants/{tenant_id}/obligations", token)
    assert status == 200, listing
    return {item["key"]: item for item in listing["items"]}


def test_a_new_york_private_school_lists_the_education_law_2d_duties(
        clocked: Callable[[str], tuple[RegionalApi, Clock]], token: TokenFactory) -> None:
    api, clock = clocked(US)
    clock.set("2026-12-04T12:00:00+00:00")
    tenant = onboard(api, token, {"jurisdiction": "US", "state": "NY", "sector": "non_government"})
    found = obligations(api, token("tenant_admin", tenant, US), tenant)
    assert {"ny-parents-bill-of-rights", "ny-data-protection-officer", "ny-complaints-procedure",
            "ferpa-annual-notification", "ferpa-directory-opt-out", "coppa-third-party-consent",
            "coppa-retention-policy"} <= set(found)
    assert found["ny-parents-bill-of-rights"]["law"] == "US-NY"
    assert found["ny-parents-bill-of-rights"]["status"] == "due"
    assert "8 NYCRR 121.8" in found["ny-data-protection-officer"]["sources"]
    assert found["coppa-retention-policy"]["status"] == "due"  # in force since 2026-04-22
    assert not any(key.startswith(("ph-", "uk-", "au-", "il-", "tx-")) for key in found)


def test_coppa_amendments_are_pending_before_22_april_2026(
        clocked: Callable[[str], tuple[RegionalApi, Clock]], token: TokenFactory) -> None:
    api, clock = clocked(US)
    clock.set("2026-03-01T12:00:00+00:00")
    tenant = onboard(api, token, {"jurisdiction": "US", "state": "OH"})
    found = obligations(api, token("tenant_admin", tenant, US), tenant)
    assert found["coppa-third-party-consent"]["status"] == "pending"
    assert found["coppa-third-party-consent"]["in_force_from"] == "2026-04-22"
    assert found["ferpa-annual-notification"]["status"] == "due"


def test_a_philippine_tenant_lists_the_npc_duties(
        clocked: Callable[[str], tuple[RegionalApi, Clock]], token: TokenFactory) -> None:
    api, clock = clocked(PH)
    clock.set("2026-12-04T12:00:00+00:00")
    tenant = onboard(api, token, {"jurisdiction": "PH"})
    found = obligations(api, token("tenant_admin", tenant, PH), tenant)
    assert set(found) == {"ph-dpo-registration", "ph-annual-incident-report"}
    assert all(item["every_months"] == 12 for item in found.values())


def test_the_australian_childrens_code_is_pending_until_registered(
        clocked: Callable[[str], tuple[RegionalApi, Clock]], token: TokenFactory) -> None:
    api, clock = clocked(AU)
    clock.set("2026-12-04T12:00:00+00:00")
    tenant = onboard(api, token, {"jurisdiction": "AU"})
    found = obligations(api, token("tenant_admin", tenant, AU), tenant)
    assert found["au-childrens-online-privacy-code"]["status"] == "pending"


def test_evidence_older_than_its_period_is_lapsed_and_new_evidence_meets_it(
        clocked: Callable[[str], tuple[RegionalApi, Clock]], token: TokenFactory) -> None:
    api, clock = clocked(US)
    clock.set("2026-12-04T12:00:00+00:00")
    tenant = onboard(api, token, {"jurisdiction": "US", "state": "NY"})
    admin = token("tenant_admin", tenant, US)
    path = f"/v1/tenants/{tenant}/obligations/ferpa-annual-notification/evidence"
    status, item = api.call("POST", path, admin, {"evidenced_on": "2025-09-01"})
    assert status == 201, item
    assert (item["status"], item["lapses_on"]) == ("lapsed", "2026-09-01")
    status, item = api.call("POST", path, admin, {"evidenced_on": "2026-09-01",
                                                  "reference": "https://school.example/ferpa-notice-2026"})
    assert status == 201, item
    assert (item["status"], item["evidenced_on"], item["lapses_on"]) == ("met", "2026-09-01", "2027-09-01")
    status, again = api.call("POST", path, admin, {"evidenced_on": "2026-09-01"})  # a retry
    assert status == 201
    assert again["status"] == "met"
    found = obligations(api, token("compliance_officer", region=US), tenant)
    assert found["ferpa-annual-notification"]["status"] == "met"
    assert found["ferpa-annual-notification"]["reference"] == "https://school.example/ferpa-notice-2026"
    status, trail = api.call("GET", f"/v1/tenants/{tenant}/audit/events?action=obligation.evidence",
                             token("compliance_officer", region=US))
    assert status == 200, trail
    assert [e["details"]["evidenced_on"] for e in trail["items"]] == ["2025-09-01", "2026-09-01"]  # retry: once


def test_a_once_only_duty_is_met_by_one_piece_of_evidence(
        clocked: Callable[[str], tuple[RegionalApi, Clock]], token: TokenFactory) -> None:
    api, clock = clocked(US)
    clock.set("2026-12-04T12:00:00+00:00")
    tenant = onboard(api, token, {"jurisdiction": "US", "state": "NY"})
    admin = token("tenant_admin", tenant, US)
    status, item = api.call("POST", f"/v1/tenants/{tenant}/obligations/ny-data-protection-officer/evidence", admin,
                            {"evidenced_on": "2019-07-01"})
    assert status == 201, item
    assert (item["status"], item["lapses_on"]) == ("met", None)


def test_bad_evidence_is_refused_and_only_tenant_admins_record_it(
        clocked: Callable[[str], tuple[RegionalApi, Clock]], token: TokenFactory) -> None:
    api, clock = clocked(US)
    clock.set("2026-12-04T12:00:00+00:00")
    tenant = onboard(api, token, {"jurisdiction": "US", "state": "IL"})
    admin = token("tenant_admin", tenant, US)
    base = f"/v1/tenants/{tenant}/obligations"
    assert api.call("POST", f"{base}/ferpa-annual-notification/evidence", admin,
                    {"evidenced_on": "2027-01-01"})[0] == 422  # in the future
    assert api.call("POST", f"{base}/ferpa-annual-notification/evidence", admin,
                    {"evidenced_on": "2026-01-01", "reference": "https://x.example/?to=head@school.example"})[0] == 422
    assert api.call("POST", f"{base}/ny-data-protection-officer/evidence", admin,
                    {"evidenced_on": "2026-01-01"})[0] == 404  # a New York duty; this school is in Illinois
    assert api.call("POST", f"{base}/ferpa-annual-notification/evidence", token("tenant_staff", tenant, US),
                    {"evidenced_on": "2026-01-01"})[0] == 403
    assert api.call("POST", f"{base}/ferpa-annual-notification/evidence", token("compliance_officer", region=US),
                    {"evidenced_on": "2026-01-01"})[0] == 403
    found = obligations(api, admin, tenant)
    assert found["il-breach-posting"]["status"] == "on_event"  # due only after a breach
    assert found["ferpa-annual-notification"]["status"] == "due"  # nothing was recorded


def test_a_new_york_incident_shows_the_7_10_and_60_day_steps_with_who_acts(
        clocked: Callable[[str], tuple[RegionalApi, Clock]], token: TokenFactory) -> None:
    """8 NYCRR 121.10: the contractor tells the school within 7 calendar days of discovery, the school reports to
    NYSED's Chief Privacy Officer within 10, and notifies the affected people within 60."""
    api, clock = clocked(US)
    clock.set("2026-03-02T12:00:00+00:00")
    tenant = onboard(api, token, {"jurisdiction": "US", "state": "NY"})
    status, incident = api.call("POST", "/v1/incidents", token("platform_admin", region=US), {
        "discovered_at": "2026-03-02T10:00:00Z", "tenant_ids": [tenant], "summary": "Misdirected export"})
    assert status == 201, incident
    steps = {(d["party"], d["by"]): (d["within_hours"], d["due_at"]) for d in incident["deadlines"]}
    assert steps[("school", "contractor")] == (7 * 24, "2026-03-09T10:00:00Z")
    assert steps[("regulator", "tenant")] == (10 * 24, "2026-03-12T10:00:00Z")
    assert steps[("individuals", "tenant")] == (60 * 24, "2026-05-01T10:00:00Z")
