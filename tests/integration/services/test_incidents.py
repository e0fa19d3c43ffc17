"""Incidents through the API: each jurisdiction's breach deadlines from a fixed discovery time, the
affected learners from the audit trail of the window, nothing of the summary stored, scope enforced."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib import composition
from chalicelib.adapters.cognito_jwt import StaticKeySource
from tests.conftest import moto_jwks
from tests.integration.conftest import HOME, Emulated, RegionalApi, TokenFactory, regional_settings
from tests.integration.services.test_holds_retention import Clock, learner_body
from tests.integration.services.test_privacy import all_items

US = "us-east-1"
DISCOVERED = "2026-01-30T22:15:00Z"
SUMMARY = "Laptop with marks of Ottoline Vandersteen-Pryce stolen from a car; parent rang 555-0199"
EXPECTED = [  # (jurisdiction, party, action, due_at): from the law packs' within_hours
    ("AU", "regulator", "assess", "2026-03-01T22:15:00Z"),  # s26WH: 30 days (720 h)
    ("AU", "regulator", "notify", None),                     # s26WK: as soon as practicable
    ("AU", "individuals", "notify", None),                   # s26WL
    ("PH", "regulator", "notify", "2026-02-02T22:15:00Z"),  # NPC Circular 16-03: 72 h
    ("PH", "individuals", "notify", "2026-02-02T22:15:00Z"),
    ("UK", "regulator", "notify", "2026-02-02T22:15:00Z"),  # Art. 33: 72 h
    ("UK", "individuals", "notify", None),                   # Art. 34: without undue delay
    ("US", "regulator", "notify", None),                     # no federal FERPA duty
    ("US", "individuals", "notify", None),                   # no federal duty (the tenant declared no state)
]


@pytest.fixture(scope="module")
def world(emulated: Emulated, api: dict[str, RegionalApi], token: TokenFactory) -> dict[str, Any]:
    """A US deployment on a clock the test sets; US tenants whose trails span a breach window; one
    tenant in each other jurisdiction, in its home region."""
    clock = Clock(datetime(2025, 12, 1, 9, 0, tzinfo=UTC))
    container = composition.Container(regional_settings(US, emulated.provisioned), clients=emulated.clients,
                                      key_source=StaticKeySource(moto_jwks()), jurisdictions=emulated.jurisdictions,
                                      clock=clock)
    us = RegionalApi(container)
    platform = token("platform_admin", region=US)

    def tenant(app: RegionalApi, code: str, admin: str) -> str:
        status, body = app.call("POST", "/v1/tenants", admin, {"name": f"{code} school", "kind": "school",
                                                               "jurisdiction": code})
        assert status == 201
        return str(body["tenant_id"])

    breached, bystander = tenant(us, "US", platform), tenant(us, "US", platform)
    staff = token("tenant_staff", breached, US)
    learners = f"/v1/tenants/{breached}/learners"

    def enrol(n: int, tid: str = breached) -> str:
        status, body = us.call("POST", f"/v1/tenants/{tid}/learners", token("tenant_staff", tid, US), learner_body(n))
        assert status == 201
        return str(body["learner_id"])

    old = enrol(1)                                    # 2025-12-01: before the window, never touched since
    clock.now = datetime(2026, 1, 10, 8, 0, tzinfo=UTC)
    early = enrol(2)                                  # inside the 30-day lookback
    elsewhere = enrol(3, bystander)                   # another tenant's learner: not affected
    clock.now = datetime(2026, 1, 29, 8, 0, tzinfo=UTC)
    late = enrol(4)
    clock.now = datetime(2026, 1, 31, 8, 0, tzinfo=UTC)
    assert us.call("GET", f"{learners}/{late}", staff)[0] == 200
    clock.now = datetime(2026, 2, 1, 8, 0, tzinfo=UTC)
    others = {code: tenant(api[HOME[code]], code, token("platform_admin", region=HOME[code]))
              for code in ("PH", "AU", "UK")}
    return {"us": us, "container": container, "clock": clock, "breached": breached, "bystander": bystander,
            "old": old, "early": early, "late": late, "elsewhere": elsewhere, "others": others,
            "platform": platform}


def test_deadlines_of_every_jurisdiction_and_the_learners_of_the_window(world: dict[str, Any]) -> None:
    world["clock"].now = datetime(2026, 2, 1, 8, 0, tzinfo=UTC)
    tenants = [world["breached"], *world["others"].values()]
    status, incident = world["us"].call("POST", "/v1/incidents", world["platform"],
                                        {"discovered_at": DISCOVERED, "tenant_ids": tenants, "summary": SUMMARY})
    assert status == 201, incident
    assert incident["incident_id"].startswith("inc_")
    assert [(d["jurisdiction"], d["party"], d["action"], d["due_at"]) for d in incident["deadlines"]] == EXPECTED
    assert all(d["rule"] and d["source"] for d in incident["deadlines"])
    assert not any(d["overdue"] for d in incident["deadlines"])  # recorded 2026-02-01 08:00, before every due_at
    affected = incident["affected"]
    assert affected["tenants"] == tenants
    assert affected["learners"] == sorted([world["early"], world["late"]])
    assert affected["by_tenant"] == {world["breached"]: sorted([world["early"], world["late"]])}
    assert {(u["tenant_id"], u["home_region"]) for u in affected["unavailable_tenants"]} == \
        {(tid, HOME[code]) for code, tid in world["others"].items()}
    assert incident["window"] == {"from": "2025-12-31T22:15:00.000000Z", "to": "2026-02-01T08:00:00.000000Z",
                                  "lookback_days": 30}

    trail = list(world["container"].audit_store.events(world["breached"], "US"))
    recorded = trail[-1]
    assert recorded["action"] == "incident.create"
    assert recorded["details"]["incident_id"] == incident["incident_id"]
    assert recorded["details"]["affected_learners"] == 2
    assert recorded["details"]["deadlines"] == [{"party": "regulator", "action": "notify", "due_at": None},
                                                {"party": "individuals", "action": "notify", "due_at": None}]
    bystander_trail = list(world["container"].audit_store.events(world["bystander"], "US"))
    assert all(e["action"] != "incident.create" for e in bystander_trail)


def test_a_wider_lookback_finds_older_learners_and_late_recording_is_overdue(world: dict[str, Any]) -> None:
    world["clock"].now = datetime(2026, 2, 5, 8, 0, tzinfo=UTC)
    status, incident = world["us"].call("POST", "/v1/incidents", world["platform"], {
        "discovered_at": DISCOVERED, "tenant_ids": [world["breached"]], "summary": SUMMARY, "lookback_days": 90})
    assert status == 201
    assert world["old"] in incident["affected"]["learners"]
    assert [d["overdue"] for d in incident["deadlines"]] == [False, False]  # US: null and 30 days
    status, uk = world["us"].call("POST", "/v1/incidents", world["platform"], {
        "discovered_at": DISCOVERED, "tenant_ids": [world["breached"], world["others"]["UK"]], "summary": SUMMARY})
    assert [(d["jurisdiction"], d["party"], d["overdue"]) for d in uk["deadlines"] if d["jurisdiction"] == "UK"] == \
        [("UK", "regulator", True), ("UK", "individuals", False)]


def test_nothing_of_the_summary_is_stored_or_logged(world: dict[str, Any], emulated: Emulated,
                                                    captured_logs: io.StringIO) -> None:
    status, _ = world["us"].call("POST", "/v1/incidents", world["platform"],
                                 {"discovered_at": DISCOVERED, "tenant_ids": [world["breached"]], "summary": SUMMARY})
    assert status == 201
    needles = {SUMMARY, "Ottoline", "Vandersteen", "555-0199"}
    assert [(r, t) for r, t, text in all_items(emulated) for n in needles if n in text] == []
    logs = captured_logs.getvalue()
    assert "request served" in logs  # the request was logged, without the summary
    assert not [n for n in needles if n in logs]


def test_a_region_with_none_of_the_tenants_points_to_their_home(world: dict[str, Any]) -> None:
    status, body = world["us"].call("POST", "/v1/incidents", world["platform"], {
        "discovered_at": DISCOVERED, "tenant_ids": [world["others"]["UK"]], "summary": SUMMARY})
    assert status == 421
    assert body["error"]["home_region"] == "eu-west-2"


@pytest.mark.parametrize(("role", "region", "which", "status"), [
    ("regional_admin", US, "breached", 201),
    ("regional_admin", "eu-west-2", "breached", 404),     # another region's admin: the tenant is not theirs
    ("regional_admin", US, "UK", 404),                    # a tenant of another region
    ("compliance_officer", US, "breached", 403),          # in scope, but read-only
    ("tenant_admin", US, "breached", 403),                # the tenant's own admin: not their call
    ("platform_admin", US, "unknown", 404),
])
def test_scope(world: dict[str, Any], token: TokenFactory, role: str, region: str, which: str,
               status: int) -> None:
    tenant_id = {"breached": world["breached"], "UK": world["others"]["UK"], "unknown": "tnt_" + "c" * 26}[which]
    who = token(role, world["breached"] if role == "tenant_admin" else None, region)
    got, body = world["us"].call("POST", "/v1/incidents", who,
                                 {"discovered_at": DISCOVERED, "tenant_ids": [tenant_id], "summary": SUMMARY})
    assert got == status, body
    assert SUMMARY not in json.dumps(body)


@pytest.mark.parametrize(("change", "field"), [
    ({"discovered_at": "2026-01-30T22:15:00"}, "discovered_at"),      # no time zone: the instant is a guess
    ({"discovered_at": "2031-01-01T00:00:00Z"}, "discovered_at"),     # after the clock's now
    ({"tenant_ids": []}, "tenant_ids"),
    ({"tenant_ids": ["not-a-tenant"]}, "tenant_ids"),
    ({"summary": ""}, "summary"),
    ({"lookback_days": 0}, "lookback_days"),
])
def test_invalid_incidents_are_422(world: dict[str, Any], change: dict[str, Any], field: str) -> None:
    body = {"discovered_at": DISCOVERED, "tenant_ids": [world["breached"]], "summary": SUMMARY, **change}
    status, answer = world["us"].call("POST", "/v1/incidents", world["platform"], body)
    assert status == 422
    assert field in [f["field"].split(".")[0] for f in answer["error"]["fields"]]
    assert SUMMARY not in json.dumps(answer)


def test_a_recorded_incident_is_read_back_as_the_post_answered_it(world: dict[str, Any],
                                                                  token: TokenFactory) -> None:
    world["clock"].now = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)
    tenants = [world["breached"], world["others"]["UK"]]
    status, incident = world["us"].call("POST", "/v1/incidents", world["platform"],
                                        {"discovered_at": DISCOVERED, "tenant_ids": tenants, "summary": SUMMARY})
    assert status == 201
    path = f"/v1/incidents/{incident['incident_id']}"
    assert world["us"].call("GET", path, world["platform"]) == (200, incident)
    trail = list(world["container"].audit_store.events(world["breached"], "US"))
    reads = [e for e in trail if e["action"] == "incident.read"]
    assert [(e["details"], e["actor"]["role"]) for e in reads] == [({"incident_id": incident["incident_id"]},
                                                                  "platform_admin")]
    # an officer of the US reads incidents of their region, but not one naming a tenant of another region
    status, body = world["us"].call("GET", path, token("compliance_officer", region=US))
    assert status == 404, body
    # a regional admin of the US may not act on the UK tenant the incident also names: nothing to see
    assert world["us"].call("GET", path, token("regional_admin", region=US))[0] == 404
    status, own = world["us"].call("POST", "/v1/incidents", token("regional_admin", region=US),
                                   {"discovered_at": DISCOVERED, "tenant_ids": [world["breached"]], "summary": SUMMARY})
    assert world["us"].call("GET", f"/v1/incidents/{own['incident_id']}", token("regional_admin", region=US)) == \
        (200, own)
    assert world["us"].call("GET", "/v1/incidents/inc_" + "a" * 26, world["platform"])[0] == 404
    assert world["us"].call("GET", "/v1/incidents/not-an-id", world["platform"])[0] == 404


def test_a_retried_incident_with_the_same_idempotency_key_is_the_same_incident(world: dict[str, Any],
                                                                               emulated: Emulated) -> None:
    world["clock"].now = datetime(2026, 2, 1, 10, 0, tzinfo=UTC)
    body = {"discovered_at": DISCOVERED, "tenant_ids": [world["breached"]], "summary": SUMMARY}
    headers = {"Idempotency-Key": "incident-7"}
    first = world["us"].call("POST", "/v1/incidents", world["platform"], body, headers=headers)
    world["clock"].now = datetime(2026, 2, 1, 10, 5, tzinfo=UTC)
    again = world["us"].call("POST", "/v1/incidents", world["platform"], body, headers=headers)
    assert first[0] == 201
    assert again == first
    created = [e for e in world["container"].audit_store.events(world["breached"], "US")
               if e["details"].get("incident_id") == first[1]["incident_id"]]
    assert len(created) == 1
    status, other = world["us"].call("POST", "/v1/incidents", world["platform"], {**body, "lookback_days": 7},
                                     headers=headers)
    assert (status, other["error"]["reason"]) == (409, "idempotency_key_reused")
    needles = {SUMMARY, "Ottoline", "Vandersteen", "555-0199"}
    assert [(r, t) for r, t, text in all_items(emulated) for n in needles if n in text] == []


def test_the_region_s_incidents_page_newest_first_with_deadlines_and_are_audited(world: dict[str, Any],
                                                                                  token: TokenFactory) -> None:
    recorded = []
    for hour in (11, 12, 13):
        world["clock"].now = datetime(2026, 2, 1, hour, 0, tzinfo=UTC)
        status, body = world["us"].call("POST", "/v1/incidents", world["platform"],
                                        {"discovered_at": DISCOVERED, "tenant_ids": [world["breached"]],
                                         "summary": SUMMARY})
        assert status == 201
        recorded.append(body["incident_id"])
    listed, cursor = [], None
    while True:
        status, page = world["us"].call("GET", "/v1/incidents?limit=2" + (f"&cursor={cursor}" if cursor else ""),
                                        world["platform"])
        assert status == 200, page
        listed += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    ids = [item["incident_id"] for item in listed]
    assert [i for i in ids if i in recorded] == recorded[::-1]  # newest first
    assert len(ids) == len(set(ids))
    assert [item["recorded_at"] for item in listed] == sorted((item["recorded_at"] for item in listed), reverse=True)
    first = next(item for item in listed if item["incident_id"] == recorded[-1])
    assert {d["jurisdiction"] for d in first["deadlines"]} == {"US"}
    assert first["tenants"] == [world["breached"]]
    assert "learners" not in first
    assert SUMMARY not in json.dumps(listed)
    # a US regional admin sees every incident naming a US tenant; a UK tenant it names is counted, not listed
    status, own = world["us"].call("GET", "/v1/incidents?limit=200", token("regional_admin", region=US))
    assert status == 200
    assert set(recorded) <= {item["incident_id"] for item in own["items"]}
    assert all(world["others"]["UK"] not in item["tenants"] for item in own["items"])
    status, officer = world["us"].call("GET", "/v1/incidents?limit=200", token("compliance_officer", region=US))
    assert status == 200  # the region's compliance officer sees the incidents of its scope
    assert set(recorded) <= {item["incident_id"] for item in officer["items"]}
    for role, region in (("tenant_admin", US), ("regional_admin", "eu-west-2"), ("compliance_officer", "eu-west-2")):
        status, body = world["us"].call("GET", "/v1/incidents", token(role, world["breached"] if role == "tenant_admin"
                                                                      else None, region))
        assert status == 403, (role, body)
    assert world["us"].call("GET", "/v1/incidents?cursor=bm9wZQ", world["platform"])[0] == 404
    listings = [e for e in world["container"].audit_store.events(world["breached"], "US")
                if e["action"] == "incident.list"]
    assert len(listings) >= 3
    assert listings[0]["actor"]["role"] == "platform_admin"
