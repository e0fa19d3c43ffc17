"""The corrections of the legal review of every value: each test quotes the source it holds the packs to.

A correction fixes what the pack said (a citation, a flag, a number no source backed); it is recorded in
the changelog as ``kind: correction`` with the old value, and unlike a change of the law it applies to
every event, past ones included.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from chalicelib.adapters.policy_files import load_jurisdictions
from chalicelib.domain.applicable import TenantScope, breach_duties, request_deadline
from chalicelib.domain.catalog import JurisdictionCatalog
from chalicelib.settings import PROJECT_ROOT
from tests.integration.api.test_state_api import AU, US, onboard
from tests.integration.conftest import RegionalApi, TokenFactory
from tests.integration.services.test_holds_retention import learner_body

REVIEW_DAY = "2026-12-04"


@pytest.fixture(scope="module")
def catalog() -> JurisdictionCatalog:
    return load_jurisdictions(PROJECT_ROOT / "policies" / "jurisdictions")


def utc(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


def duty(duties: list[dict[str, Any]], party: str, action: str) -> dict[str, Any]:
    return next(d for d in duties if (d["party"], d["action"]) == (party, action))


def corrections(catalog: JurisdictionCatalog, pack: str) -> dict[str, Any]:
    assert catalog.changelog is not None
    return {c.value: c for c in catalog.changelog.changes if c.pack == pack and c.kind == "correction"}


DISCOVERED = utc(2026, 3, 2, 10)


def test_a_california_business_notifies_residents_in_30_days_and_the_attorney_general_15_days_later(
        catalog: JurisdictionCatalog) -> None:
    """Civil Code 1798.82 as amended by SB 446 (2025): residents "within 30 calendar days of discovery";
    1798.82(f): a sample copy to the Attorney General when more than 500 residents are notified,
    "within 15 calendar days of notifying the affected residents"."""
    duties = breach_duties(catalog, TenantScope("US", "CA", "non_government"), DISCOVERED, DISCOVERED)
    residents, attorney_general = duty(duties, "individuals", "notify"), duty(duties, "regulator", "notify")
    assert (residents["within_hours"], residents["applied_rule"]) == (720, "US-CA")
    assert residents["due_at"] == "2026-04-01T10:00:00Z"
    assert attorney_general["within_hours"] == 15 * 24
    assert attorney_general["counted_from"] == "individuals_notified"
    assert attorney_general["due_at"] == "2026-04-16T10:00:00Z"  # 15 days after the residents' latest day
    assert "15 calendar days" in attorney_general["rule"]


def test_a_california_public_district_has_no_number_of_days(catalog: JurisdictionCatalog) -> None:
    """Civil Code 1798.29(a) (agencies), not amended by SB 446: "in the most expedient time possible and
    without unreasonable delay"; 1798.29(e): the Attorney General's copy, with no number of days."""
    duties = breach_duties(catalog, TenantScope("US", "CA", "government"), DISCOVERED, DISCOVERED)
    for party in ("individuals", "regulator"):
        found = duty(duties, party, "notify")
        assert found["due_at"] is None
        assert found["within_hours"] is None
        assert found["applied_rule"] == "US-CA/government"
        assert "1798.29" in found["source"]


def test_us_rectification_erasure_and_restriction_are_service_levels_not_statutory(
        catalog: JurisdictionCatalog) -> None:
    """34 CFR 99.20(b): decide "within a reasonable period of time of receiving the request"; COPPA
    (16 CFR 312.6) sets no number of days. Only FERPA's access (99.10(b), 45 days) is statutory."""
    us = catalog.get("US")
    assert us.request_deadline("access").statutory
    for kind in ("rectification", "erasure", "restriction"):
        rule = us.request_deadline(kind)
        assert not rule.statutory
        assert "service level" in f"{rule.rule} {rule.note}"
        _, due, deadline = request_deadline(catalog, TenantScope("US", "OH"), kind, DISCOVERED)
        assert deadline["statutory"] is False
        assert due == DISCOVERED + timedelta(days=45)
    assert set(corrections(catalog, "US")) == {"requests.rectification", "requests.erasure", "requests.restriction"}


def test_illinois_breach_duty_cites_85_27(catalog: JurisdictionCatalog) -> None:
    """105 ILCS 85/27 (school breach duties; 85/26 lists the school's prohibitions): parents notified
    within 30 calendar days. The correction applies to past events too."""
    for discovered in (utc(2022, 5, 2), DISCOVERED):
        found = duty(breach_duties(catalog, TenantScope("US", "IL"), discovered, discovered), "individuals", "notify")
        assert found["source"] == "105 ILCS 85/27"
        assert found["within_hours"] == 720
    fixed = corrections(catalog, "US-IL")["breach.individuals.notify"]
    assert fixed.before is not None
    assert fixed.before.sources == ("105 ILCS 85/26",)
    assert fixed.effective == REVIEW_DAY


def test_the_texas_change_of_2020_is_hb_4390(catalog: JurisdictionCatalog) -> None:
    """Tex. Bus. & Com. Code 521.053(i) was added by HB 4390 of the 86th Legislature (in force 2020-01-01)."""
    assert catalog.changelog is not None
    change = next(c for c in catalog.changelog.changes
                  if (c.pack, c.effective, c.kind) == ("US-TX", "2020-01-01", "law"))
    assert "HB 4390 (86th Legislature" in change.summary
    assert "Texas HB 4390 (86th Legislature, 2019)" in change.sources
    assert not any("HB 4 " in c.summary or "HB 4 (" in c.summary for c in catalog.changelog.changes)


@pytest.mark.parametrize("kind", ["access", "rectification"])
def test_australian_agencies_have_30_days_and_organisations_a_reasonable_period(
        catalog: JurisdictionCatalog, kind: str) -> None:
    """APP 12.4(a) / 13.5(a): "(i) if the entity is an agency—within 30 days after the request is made;
    (ii) if the entity is an organisation—within a reasonable period after the request is made"
    (OAIC guidance: usually 30 calendar days)."""
    _, due_government, government = request_deadline(catalog, TenantScope("AU", None, "government"), kind, DISCOVERED)
    _, due_private, private = request_deadline(catalog, TenantScope("AU", None, "non_government"), kind, DISCOVERED)
    assert (government["applied_rule"], government["statutory"]) == ("AU/government", True)
    assert (private["applied_rule"], private["statutory"]) == ("AU", False)
    assert "reasonable period" in private["rule"]
    assert due_government == due_private == DISCOVERED + timedelta(days=30)


def test_nsw_working_days_skip_the_christmas_closedown(catalog: JurisdictionCatalog) -> None:
    """NSW IPC guidance on the GIPA Act: working days exclude 25 December to 5 January inclusive."""
    nsw = catalog.overlay("AU-NSW")
    assert nsw is not None
    assert nsw.working_days is not None
    closed = [day for day in (date(2026, 12, 29), date(2027, 1, 4), date(2027, 1, 5))
              if nsw.working_days.is_holiday(day)]
    assert len(closed) == 3
    assert not nsw.working_days.is_holiday(date(2027, 1, 6))
    assert not nsw.working_days.is_holiday(date(2026, 12, 23))


def test_victoria_names_no_number_of_days_for_ovic_and_moves_a_weekend_due_date(
        catalog: JurisdictionCatalog) -> None:
    """OVIC lists incident notification "as required" (no days); Interpretation of Legislation Act 1984
    (Vic) s44: a period ending on a weekend or public holiday ends on the next business day."""
    scope = TenantScope("AU", "VIC", "government")
    ovic = duty(breach_duties(catalog, scope, DISCOVERED, DISCOVERED), "regulator", "notify")
    assert ovic["within_hours"] is None
    # Received Friday 6 March 2026: 30 days end Sunday 5 April (Easter Sunday), Easter Monday is a holiday.
    _, _, deadline = request_deadline(catalog, scope, "access", utc(2026, 3, 6, 9))
    victoria = next(rule for rule in [deadline, *deadline["other_rules"]] if rule["applied_rule"] == "AU-VIC")
    assert victoria["due_at"] == "2026-04-07T09:00:00Z"


def test_the_philippine_clock_starts_on_knowledge_or_reasonable_belief(catalog: JurisdictionCatalog) -> None:
    """NPC Circular 16-03 s17-18: notification within 72 hours upon knowledge of, or reasonable belief by the
    controller or processor that, a personal data breach occurred."""
    for found in breach_duties(catalog, TenantScope("PH"), DISCOVERED, DISCOVERED):
        assert "reasonable belief" in found["rule"]
        assert found["within_hours"] == 72


def test_every_correction_keeps_what_the_pack_said_before(catalog: JurisdictionCatalog) -> None:
    assert catalog.changelog is not None
    fixed = [c for c in catalog.changelog.changes if c.kind == "correction"]
    assert len(fixed) >= 12
    for change in fixed:
        assert change.effective == REVIEW_DAY
        assert change.summary.startswith("Legal review")
        # before is what the pack said; null only for a duty the pack did not model at all
        assert change.before is not None or "now modelled" in change.summary


def test_an_incident_says_whether_it_was_known_or_believed(api: dict[str, RegionalApi],
                                                          token: TokenFactory) -> None:
    status, tenant = onboard(api, token, {"jurisdiction": "US", "state": "CA", "sector": "government"})
    assert status == 201, tenant
    status, incident = api[US].call("POST", "/v1/incidents", token("platform_admin", region=US), {
        "discovered_at": "2026-03-02T10:00:00Z", "discovery_basis": "reasonable_belief",
        "tenant_ids": [tenant["tenant_id"]], "summary": "Suspicious log-ins"})
    assert status == 201, incident
    assert incident["discovery_basis"] == "reasonable_belief"
    residents = next(d for d in incident["deadlines"] if (d["party"], d["action"]) == ("individuals", "notify"))
    assert residents["due_at"] is None
    assert residents["applied_rule"] == "US-CA/government"
    status, refused = api[US].call("POST", "/v1/incidents", token("platform_admin", region=US), {
        "discovered_at": "2026-03-02T10:00:00Z", "discovery_basis": "rumour",
        "tenant_ids": [tenant["tenant_id"]], "summary": "x"})
    assert status == 422
    assert "discovery_basis" in str(refused["error"]["fields"])


def test_an_australian_private_school_request_is_not_statutory(api: dict[str, RegionalApi],
                                                              token: TokenFactory) -> None:
    status, tenant = onboard(api, token, {"jurisdiction": "AU", "sector": "non_government"})
    assert status == 201, tenant
    tid = tenant["tenant_id"]
    status, learner = api[AU].call("POST", f"/v1/tenants/{tid}/learners", token("tenant_staff", tid, AU),
                                   learner_body(1))
    assert status == 201, learner
    status, request = api[AU].call("POST", f"/v1/tenants/{tid}/requests", token("tenant_admin", tid, AU), {
        "learner_id": learner["learner_id"], "type": "access", "received_at": "2026-03-02T09:00:00Z"})
    assert status == 201, request
    assert (request["deadline"]["applied_rule"], request["deadline"]["statutory"]) == ("AU", False)
    assert request["due_at"].startswith("2026-04-01T09:00:00")
