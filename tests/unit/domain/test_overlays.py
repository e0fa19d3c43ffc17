"""State overlays, the stricter-wins rule and the changelog: deadlines a tenant of a state would see."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.adapters.policy_files import load_jurisdictions
from chalicelib.domain.applicable import TenantScope, breach_duties, request_deadline
from chalicelib.domain.catalog import JurisdictionCatalog
from chalicelib.settings import PROJECT_ROOT

# The sources the research (shared/research/jurisdictions.md, "Sources to cite") backs: a value marked
# "confirmed" in an overlay or the changelog may cite only these (prefix match: "... 1798.82(f)").
RESEARCH_SOURCES = (
    "NPC Circular 16-03", "NPC Advisory 2021-01", "NPC Circular 2023-04", "IRR s44", "IRR s50",
    "OAIC APP guidelines", "Privacy Act s26WH", "Privacy Act s26WK", "Privacy Act s26WL", "UK GDPR Art.",
    "ICO guidance", "34 CFR 99", "16 CFR 312", "California Civil Code 1798.82", "California B&P Code 22584",
    # checked against statute text and regulator guidance by the legal review of every value (December 2026)
    "California Civil Code 1798.29", "California SB 446 (2025)", "105 ILCS 85/27", "Texas HB 4390", "APP 12.4",
    "APP 13.5", "RA 10173",
)


@pytest.fixture(scope="module")
def catalog() -> JurisdictionCatalog:
    return load_jurisdictions(PROJECT_ROOT / "policies" / "jurisdictions")


def utc(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


def duty(duties: list[dict[str, Any]], party: str, action: str) -> dict[str, Any]:
    return next(d for d in duties if (d["party"], d["action"]) == (party, action))


DISCOVERED = utc(2026, 3, 2, 10)
NOW = utc(2026, 3, 2, 12)


def test_a_new_york_incident_takes_the_state_deadline(catalog: JurisdictionCatalog) -> None:
    found = duty(breach_duties(catalog, TenantScope("US", "NY"), DISCOVERED, NOW), "individuals", "notify")
    assert found["due_at"] == "2026-05-01T10:00:00Z"  # 60 calendar days after discovery
    assert found["applied_rule"] == "US-NY"
    assert "NY Education Law 2-d" in found["source"]
    assert found["confidence"] == "unconfirmed"
    assert found["state"] == "NY"
    assert [other["applied_rule"] for other in found["other_rules"]] == ["US"]  # the federal rule lost


def test_an_illinois_incident_takes_the_state_deadline(catalog: JurisdictionCatalog) -> None:
    found = duty(breach_duties(catalog, TenantScope("US", "IL"), DISCOVERED, NOW), "individuals", "notify")
    assert found["due_at"] == "2026-04-01T10:00:00Z"  # 30 calendar days
    assert found["applied_rule"] == "US-IL"
    assert found["within_hours"] == 720


def test_a_tenant_without_a_state_keeps_the_national_rules(catalog: JurisdictionCatalog) -> None:
    found = duty(breach_duties(catalog, TenantScope("US"), DISCOVERED, NOW), "individuals", "notify")
    assert found["due_at"] is None
    assert found["applied_rule"] == "US"
    assert found["other_rules"] == []


def test_a_state_without_an_overlay_keeps_the_national_rules(catalog: JurisdictionCatalog) -> None:
    ohio = breach_duties(catalog, TenantScope("US", "OH"), DISCOVERED, NOW)
    assert {d["applied_rule"] for d in ohio} == {"US"}


def test_a_state_duty_the_nation_lacks_is_added(catalog: JurisdictionCatalog) -> None:
    texas = breach_duties(catalog, TenantScope("US", "TX"), DISCOVERED, NOW)
    regulator = duty(texas, "regulator", "notify")
    assert regulator["due_at"] == "2026-04-01T10:00:00Z"  # Attorney General: 30 days since SB 768
    assert regulator["applied_rule"] == "US-TX"
    assert regulator["in_force_from"] == "2023-09-01"


def test_a_laxer_state_rule_keeps_the_national_one(catalog: JurisdictionCatalog) -> None:
    # Victoria's FOI Act gave 45 days before 2017-09-01: laxer than the national 30, so the national rule applies.
    # Its 45 days ended on Easter Saturday 2017; with Easter Sunday and Monday (Victorian holidays) the day
    # moves to Tuesday 18 April (Interpretation of Legislation Act 1984 (Vic) s44).
    scope = TenantScope("AU", "VIC", "government")
    rule, due, deadline = request_deadline(catalog, scope, "access", utc(2017, 3, 1, 9))
    assert due == utc(2017, 3, 31, 9)
    assert deadline["applied_rule"] == "AU/government"  # APP 12.4(a)(i): agencies' own 30 days
    assert [(o["applied_rule"], o["due_at"]) for o in deadline["other_rules"]] == [("AU-VIC", "2017-04-18T09:00:00Z")]
    assert rule.sources == ("APP 12.4(a)(i)", "OAIC APP guidelines ch. 12")


def test_an_equal_state_rule_keeps_the_national_one(catalog: JurisdictionCatalog) -> None:
    _, due, deadline = request_deadline(catalog, TenantScope("AU", "VIC", "government"), "access",
                                        utc(2026, 3, 2, 9))
    assert due == utc(2026, 4, 1, 9)
    assert deadline["applied_rule"] == "AU/government"
    assert deadline["other_rules"][0]["applied_rule"] == "AU-VIC"
    assert deadline["other_rules"][0]["in_force_from"] == "2017-09-01"


def test_a_nsw_government_school_answers_access_in_twenty_nsw_working_days(catalog: JurisdictionCatalog) -> None:
    scope = TenantScope("AU", "NSW", "government")
    _, due, deadline = request_deadline(catalog, scope, "access", utc(2026, 3, 2, 9))
    assert deadline["applied_rule"] == "AU-NSW"
    assert deadline["unit"] == "working_days"
    assert due == utc(2026, 3, 30, 9)  # 20 working days, before the national 30 days (1 April)
    assert deadline["other_rules"][0]["due_at"] == "2026-04-01T09:00:00Z"


def test_across_christmas_the_nsw_working_days_end_later_so_the_national_rule_wins(
        catalog: JurisdictionCatalog) -> None:
    # Received Tuesday 22 Dec 2026: GIPA's working days skip the Christmas closedown (25 December to
    # 5 January) as well as weekends and NSW holidays (Australia Day, Tuesday 26 January 2027), so 20
    # working days end Monday 1 February 2027; the national 30 days end on 21 January.
    _, due, deadline = request_deadline(catalog, TenantScope("AU", "NSW", "government"), "access",
                                        utc(2026, 12, 22, 9))
    assert due == utc(2027, 1, 21, 9)
    assert deadline["applied_rule"] == "AU/government"
    assert deadline["other_rules"][0]["due_at"] == "2027-02-01T09:00:00Z"


def test_the_nsw_overlay_binds_government_schools_only(catalog: JurisdictionCatalog) -> None:
    _, _, private = request_deadline(catalog, TenantScope("AU", "NSW", "non_government"), "access",
                                     utc(2026, 12, 22, 9))
    _, _, undeclared = request_deadline(catalog, TenantScope("AU", "NSW"), "access", utc(2026, 12, 22, 9))
    assert private["applied_rule"] == undeclared["applied_rule"] == "AU"
    assert private["other_rules"] == []


def test_the_nsw_breach_scheme_applies_from_its_commencement(catalog: JurisdictionCatalog) -> None:
    scope = TenantScope("AU", "NSW", "government")
    after = breach_duties(catalog, scope, utc(2024, 2, 1), utc(2024, 2, 1))
    before = breach_duties(catalog, scope, utc(2023, 6, 1), utc(2023, 6, 1))
    assert [o["applied_rule"] for o in duty(after, "regulator", "assess")["other_rules"]] == ["AU-NSW"]
    assert duty(before, "regulator", "assess")["other_rules"] == []  # Part 6A commenced 2023-11-28


def test_a_deadline_before_a_change_uses_the_rule_then_in_force(catalog: JurisdictionCatalog) -> None:
    scope = TenantScope("US", "CA")
    before = duty(breach_duties(catalog, scope, utc(2025, 6, 2, 10), NOW), "individuals", "notify")
    after = duty(breach_duties(catalog, scope, utc(2026, 1, 5, 10), NOW), "individuals", "notify")
    assert after["due_at"] == "2026-02-04T10:00:00Z"  # SB 446: 30 days from 2026-01-01
    assert after["in_force_from"] == "2026-01-01"
    assert after["applied_rule"] == "US-CA"
    assert before["due_at"] is None  # before SB 446: "most expedient time possible", no number of days
    assert before["applied_rule"] == "US-CA"  # a tie of two open-ended rules keeps the state's own duty
    assert "most expedient" in before["rule"]
    assert before["in_force_from"] is None
    assert before["other_rules"][0]["applied_rule"] == "US"


def test_texas_attorney_general_notice_follows_each_amendment(catalog: JurisdictionCatalog) -> None:
    scope = TenantScope("US", "TX")
    for discovered, due in [(utc(2019, 6, 3), None), (utc(2021, 6, 1), "2021-07-31T00:00:00Z"),
                            (utc(2024, 6, 3), "2024-07-03T00:00:00Z")]:
        assert duty(breach_duties(catalog, scope, discovered, discovered), "regulator", "notify")["due_at"] == due


def test_every_overlay_and_changelog_value_is_cited_and_confirmed_only_by_the_research(
        catalog: JurisdictionCatalog) -> None:
    overlays = [overlay for code in catalog.codes() for overlay in catalog.overlays_of(code)]
    assert {"US-NY", "US-IL", "US-CA", "US-TX", "AU-NSW", "AU-VIC"} <= {overlay.code for overlay in overlays}
    rules = [rule for overlay in overlays for rule in overlay.cited_rules()]
    assert catalog.changelog is not None
    rules += [change.before for change in catalog.changelog.changes if change.before is not None]
    entries: list[tuple[tuple[str, ...], str]] = [(rule.sources, rule.confidence) for rule in rules]
    entries += [(change.sources, change.confidence) for change in catalog.changelog.changes]
    assert len(entries) > 20
    for sources, confidence in entries:
        assert sources
        assert all(len(source.strip()) >= 3 for source in sources)
        if confidence == "confirmed":
            assert all(source.startswith(RESEARCH_SOURCES) for source in sources), sources


def test_the_stated_values_of_the_issue(catalog: JurisdictionCatalog) -> None:
    ny, il = catalog.overlay("US-NY"), catalog.overlay("US-IL")
    assert ny is not None
    assert il is not None
    assert ny.breach[0].within_hours == 60 * 24
    assert il.breach[0].within_hours == 30 * 24
    assert catalog.get("AU").breach[0].within_hours == 30 * 24  # the NDB assessment stays


def test_the_jurisdiction_view_shows_overlays_and_changes(catalog: JurisdictionCatalog) -> None:
    view = catalog.view("US")
    assert set(view["overlays"]) == {"CA", "IL", "NY", "TX"}
    ny = view["overlays"]["NY"]
    assert ny["breach"][0]["within_hours"] == 1440
    assert ny["breach"][0]["confidence"] == "unconfirmed"
    assert "NY Education Law 2-d(6)" in ny["sources"]
    assert {change["pack"] for change in view["changelog"]} == {"US", "US-CA", "US-TX", "US-IL", "US-NY"}
    assert view["changelog"] == sorted(view["changelog"], key=lambda change: change["effective"])
    assert set(catalog.view("AU")["overlays"]) == {"NSW", "VIC"}
    assert catalog.view("UK")["overlays"] == {}
