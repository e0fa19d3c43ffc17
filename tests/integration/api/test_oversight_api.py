"""A compliance officer's summaries through the API: audit status, consent coverage, the region's incidents."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.domain.audit.summaries import COUNT_SHARDS
from tests.integration.api.test_learners_api import ALICE
from tests.integration.conftest import RegionalApi, TokenFactory

UK = "eu-west-2"
NAMES = ("Alice", "Liddell", "alice.liddell@example.org", "Lorina", "lorina@example.org")


@pytest.fixture
def school(api: dict[str, RegionalApi], onboard: Any, token: TokenFactory) -> dict[str, Any]:
    """A UK tenant with three learners: research consent granted, then withdrawn, and none; one more erased."""
    eu = api[UK]
    tid = onboard("UK", name="Coverage School")["tenant_id"]
    staff, admin = token("tenant_staff", tid, UK), token("tenant_admin", tid, UK)
    learners = []
    for n in range(4):
        status, learner = eu.call("POST", f"/v1/tenants/{tid}/learners", staff,
                                  {**ALICE, "email": f"alice{n}.liddell@example.org"})
        assert status == 201, learner
        learners.append(learner["learner_id"])
    for learner, decisions in zip(learners, (["granted"], ["granted", "withdrawn"], [], ["granted"]), strict=True):
        for decision in decisions:
            status, body = eu.call("POST", f"/v1/tenants/{tid}/learners/{learner}/consents", staff, {
                "purpose": "research", "decision": decision, "given_by": "guardian", "verification": "signed_form"})
            assert status == 201, body
    assert eu.call("DELETE", f"/v1/tenants/{tid}/learners/{learners[3]}", admin)[0] == 200
    return {"tenant_id": tid, "officer": token("compliance_officer", region=UK), "learners": learners}


def events_of(eu: RegionalApi, tenant_id: str, action: str) -> list[dict[str, Any]]:
    return [e for e in eu.container.audit_store.events(tenant_id, "UK") if e["action"] == action]


def test_consent_coverage_counts_live_learners_per_purpose_and_names_no_one(
        api: dict[str, RegionalApi], school: dict[str, Any]) -> None:
    eu = api[UK]
    status, body = eu.call("GET", f"/v1/tenants/{school['tenant_id']}/consents/coverage", school["officer"])
    assert status == 200, body
    assert body["name"] == "Coverage School"
    assert body["learners"] == 3  # the erased learner is not counted
    research = next(p for p in body["purposes"] if p["purpose"] == "research")
    assert (research["granted"], research["not_granted"], research["no_decision"]) == (1, 1, 1)
    assert research["requires_consent"] is True
    text = json.dumps(body)
    assert not any(learner in text for learner in school["learners"])
    assert not any(value in text for value in NAMES)
    recorded = events_of(eu, school["tenant_id"], "consent.coverage")
    assert [(e["actor"]["role"], e["details"]) for e in recorded] == [("compliance_officer", {"learners": 3})]


@pytest.mark.parametrize(("role", "region", "status"), [
    ("tenant_staff", UK, 403), ("regional_admin", UK, 403), ("compliance_officer", "ap-southeast-2", 404),
])
def test_consent_coverage_is_for_officers_of_the_region(api: dict[str, RegionalApi], school: dict[str, Any],
                                                        token: TokenFactory, role: str, region: str,
                                                        status: int) -> None:
    who = token(role, school["tenant_id"] if role.startswith("tenant") else None, region)
    got, body = api[UK].call("GET", f"/v1/tenants/{school['tenant_id']}/consents/coverage", who)
    assert got == status, body
    assert set(body) == {"error"}


def test_audit_status_names_the_last_verification_and_export(api: dict[str, RegionalApi], school: dict[str, Any],
                                                             token: TokenFactory) -> None:
    eu, officer = api[UK], school["officer"]
    path = f"/v1/tenants/{school['tenant_id']}/audit"
    status, before = eu.call("GET", path + "/status", officer)
    assert status == 200, before
    assert before["name"] == "Coverage School"
    assert before["last_verification"] is None
    assert before["last_export"] is None
    assert before["events"] > 5
    assert eu.call("GET", path + "/verify", officer)[0] == 200
    assert eu.call("POST", path + "/exports", officer, {})[0] == 201
    status, after = eu.call("GET", path + "/status", officer)
    assert status == 200
    verification, export = after["last_verification"], after["last_export"]
    assert verification["valid"] is True
    assert verification["by_role"] == "compliance_officer"
    assert export["kind"] == "bucket"
    assert export["seq"] > verification["seq"]
    assert after["events"] > before["events"]
    assert len(events_of(eu, school["tenant_id"], "audit.status")) == 2
    refused, body = eu.call("GET", path + "/status", token("tenant_admin", school["tenant_id"], UK))
    assert refused == 403, body


def test_officers_see_the_incidents_of_their_region_and_the_reads_are_audited(
        api: dict[str, RegionalApi], school: dict[str, Any], token: TokenFactory) -> None:
    eu = api[UK]
    status, incident = eu.call("POST", "/v1/incidents", token("regional_admin", region=UK), {
        "discovered_at": datetime.now(UTC).isoformat(), "tenant_ids": [school["tenant_id"]], "summary": "lost laptop"})
    assert status == 201, incident
    status, listed = eu.call("GET", "/v1/incidents?limit=50", school["officer"])
    assert status == 200, listed
    assert incident["incident_id"] in [item["incident_id"] for item in listed["items"]]
    status, one = eu.call("GET", f"/v1/incidents/{incident['incident_id']}", school["officer"])
    assert status == 200, one
    assert "lost laptop" not in json.dumps(listed)
    assert [e["actor"]["role"] for e in events_of(eu, school["tenant_id"], "incident.list")] == ["compliance_officer"]
    assert [e["actor"]["role"] for e in events_of(eu, school["tenant_id"], "incident.read")] == ["compliance_officer"]
    assert eu.call("POST", "/v1/incidents", school["officer"], {
        "discovered_at": datetime.now(UTC).isoformat(), "tenant_ids": [school["tenant_id"]],
        "summary": "probe"})[0] == 403


def test_activity_counts_the_events_per_hour_with_the_checkpoints(api: dict[str, RegionalApi],
                                                                  school: dict[str, Any]) -> None:
    eu, officer = api[UK], school["officer"]
    path = f"/v1/tenants/{school['tenant_id']}/audit"
    assert eu.call("GET", path + "/verify", officer)[0] == 200
    status, head = eu.call("GET", path + "/status", officer)
    assert status == 200
    status, body = eu.call("GET", path + "/activity", officer)
    assert status == 200, body
    assert sum(hour["events"] for hour in body["hours"]) == head["events"] + 1  # the status read itself
    assert all(hour["hour"].endswith(":00:00Z") for hour in body["hours"])
    assert body["name"] == "Coverage School"
    reads = [e for e in events_of(eu, school["tenant_id"], "audit.read") if e["details"].get("format") == "activity"]
    assert len(reads) == 1
    status, after = eu.call("GET", path + "/status", officer)
    assert after["last_export"] is None  # looking at the picture is not a download
    status, empty = eu.call("GET", path + "/activity?from=2020-01-01T00:00:00Z&to=2020-02-01T00:00:00Z", officer)
    assert (status, empty["hours"], empty["checkpoints"]) == (200, [], [])
    for bad in ("from=2020-01-01T00:00:00Z", "from=yesterday", "from=2026-01-01T00:00:00"):
        status, problem = eu.call("GET", f"{path}/activity?{bad}", officer)
        assert status == 422, (bad, problem)
        assert problem["error"]["fields"][0]["field"] == "from"


def test_consent_coverage_reads_running_counts_that_match_a_full_count(
        api: dict[str, RegionalApi], onboard: Any, token: TokenFactory) -> None:
    """Enrolments, decisions (grants, withdrawals, re-grants, two purposes) and erasures keep per-tenant counts;
    coverage reads those few items (no query of the learners' items) and equals a count of every learner's items,
    which is what the route answers for a tenant without the counts (onboarded before them)."""
    eu = api[UK]
    tid = onboard("UK", name="Counted School")["tenant_id"]
    staff, admin = token("tenant_staff", tid, UK), token("tenant_admin", tid, UK)
    histories = [["granted"], ["granted", "withdrawn"], [], ["withdrawn", "granted"],
                 ["granted", "withdrawn", "granted"], ["granted"], ["withdrawn"], []]
    learners = []
    for n, history in enumerate(histories):
        status, learner = eu.call("POST", f"/v1/tenants/{tid}/learners", staff,
                                  {**ALICE, "email": f"counted{n}@example.org"})
        assert status == 201, learner
        learners.append(learner["learner_id"])
        for i, decision in enumerate(history):
            purpose = "research" if (n + i) % 3 else "analytics"
            status, body = eu.call("POST", f"/v1/tenants/{tid}/learners/{learner['learner_id']}/consents", staff, {
                "purpose": purpose, "decision": decision, "given_by": "guardian", "verification": "signed_form"})
            assert status == 201, body
    for gone in (learners[1], learners[5]):
        assert eu.call("DELETE", f"/v1/tenants/{tid}/learners/{gone}", admin)[0] == 200
    officer = token("compliance_officer", region=UK)
    client = eu.container.clients.dynamodb(UK)
    calls: list[str] = []

    def seen(event_name: str, **_: Any) -> None:
        calls.append(event_name.rsplit(".", 1)[-1])

    client.meta.events.register("before-call.dynamodb.*", seen)
    try:
        status, counted = eu.call("GET", f"/v1/tenants/{tid}/consents/coverage", officer)
    finally:
        client.meta.events.unregister("before-call.dynamodb.*", seen)
    assert status == 200, counted
    assert "Query" not in calls, calls  # no learner's items are read
    assert calls.count("BatchGetItem") == 1, calls
    client.delete_item(TableName=eu.container.data_store.table("UK"),
                       Key={"pk": {"S": f"TENANT#{tid}"}, "sk": {"S": "CC#SINCE"}})
    status, scanned = eu.call("GET", f"/v1/tenants/{tid}/consents/coverage", officer)
    assert status == 200, scanned
    assert counted["learners"] == scanned["learners"] == 6
    assert counted["purposes"] == scanned["purposes"]
    research = next(p for p in counted["purposes"] if p["purpose"] == "research")
    assert research["granted"] + research["not_granted"] + research["no_decision"] == 6
    assert sum(p["granted"] for p in counted["purposes"]) > 0


class _DecisionLandsMeanwhile:
    """The learner service as the consent service sees it, except that right after the first read another
    container's decision on the same learner lands (between this one's read and its write)."""

    def __init__(self, real: Any, meanwhile: Any) -> None:
        self._real, self._meanwhile = real, meanwhile

    def __getattr__(self, name: str) -> Any:
        real = getattr(self._real, name)
        if name not in {"profile_for_write", "with_records", "profile_with_records"}:
            return real

        def read_then_land(*args: Any, **kwargs: Any) -> Any:
            read = real(*args, **kwargs)
            if self._meanwhile is not None:
                meanwhile, self._meanwhile = self._meanwhile, None
                meanwhile()
            return read
        return read_then_land


def test_two_decisions_racing_on_one_learner_are_both_recorded_and_counted_once_each(
        api: dict[str, RegionalApi], onboard: Any, token: TokenFactory) -> None:
    from chalicelib.domain.consents import ConsentCreate
    from chalicelib.services.consents import ConsentService
    from chalicelib.services.context import Caller

    eu = api[UK]
    c = eu.container
    tid = onboard("UK", name="Race School")["tenant_id"]
    staff = token("tenant_staff", tid, UK)
    status, learner = eu.call("POST", f"/v1/tenants/{tid}/learners", staff, {**ALICE, "email": "race@example.org"})
    assert status == 201, learner
    lid = learner["learner_id"]
    grant = {"purpose": "research", "given_by": "guardian", "verification": "signed_form"}
    other = lambda: eu.call("POST", f"/v1/tenants/{tid}/learners/{lid}/consents", staff,  # noqa: E731
                            {**grant, "decision": "granted"})
    racing = ConsentService(c.access, c.data_store, _DecisionLandsMeanwhile(c.learners, other),  # type: ignore[arg-type]
                            c.audit_store, c.jurisdictions, c.clock, c.idempotent)
    recorded = racing.record(Caller(c.verifier.verify(staff), "req-race"), tid, lid,
                             ConsentCreate(**grant, decision="withdrawn"))
    assert recorded["decision"] == "withdrawn"
    status, history = eu.call("GET", f"/v1/tenants/{tid}/learners/{lid}/consents", staff)
    assert [d["decision"] for d in history["history"]] == ["granted", "withdrawn"]  # both landed, in order
    officer = token("compliance_officer", region=UK)
    research = next(p for p in eu.call("GET", f"/v1/tenants/{tid}/consents/coverage", officer)[1]["purposes"]
                    if p["purpose"] == "research")
    assert (research["granted"], research["not_granted"], research["no_decision"]) == (0, 1, 0)


def test_a_trail_sealed_before_the_summaries_reads_its_status_and_activity_from_the_chain(
        api: dict[str, RegionalApi], school: dict[str, Any]) -> None:
    eu, officer, tid = api[UK], school["officer"], school["tenant_id"]
    path = f"/v1/tenants/{tid}/audit"
    assert eu.call("GET", path + "/verify", officer)[0] == 200
    assert eu.call("POST", path + "/exports", officer, {})[0] == 201
    status, kept = eu.call("GET", path + "/status", officer)
    assert status == 200
    dynamodb = eu.container.clients.dynamodb(UK)
    head_key = {"pk": {"S": f"TENANT#{tid}"}, "sk": {"S": "HEAD"}}
    summaries = ["summaries_from", "status_verification", "status_export"]
    dynamodb.update_item(TableName="enclave-audit-uk", Key=head_key, UpdateExpression="REMOVE " + ", ".join(summaries))
    for shard in range(COUNT_SHARDS):  # and no hour counts
        for item in dynamodb.query(TableName="enclave-audit-uk", KeyConditionExpression="pk = :pk",
                                   ExpressionAttributeValues={":pk": {"S": f"TENANT#{tid}#A{shard}"}})["Items"]:
            dynamodb.delete_item(TableName="enclave-audit-uk", Key={"pk": item["pk"], "sk": item["sk"]})
    for _ in range(2):  # as sealed before the summaries; then sealed with them from a later seq on
        status, now = eu.call("GET", path + "/status", officer)
        assert status == 200, now
        assert (now["last_verification"], now["last_export"]) == (kept["last_verification"], kept["last_export"])
    head = dynamodb.get_item(TableName="enclave-audit-uk", Key=head_key, ConsistentRead=True)["Item"]
    assert int(head["summaries_from"]["N"]) > kept["last_export"]["seq"]
    status, body = eu.call("GET", path + "/activity", officer)
    assert status == 200, body
    assert sum(hour["events"] for hour in body["hours"]) == now["events"] + 1  # the last status read itself


def test_activity_between_two_moments_inside_hours_counts_exactly_the_events_between(
        api: dict[str, RegionalApi], school: dict[str, Any]) -> None:
    eu, officer, tid = api[UK], school["officer"], school["tenant_id"]
    events = list(eu.container.audit_store.events(tid, "UK"))
    low, high = events[2]["at"], events[-2]["at"]  # cut inside hours: those parts are counted from the events
    status, body = eu.call("GET", f"/v1/tenants/{tid}/audit/activity?from={low}&to={high}", officer)
    assert status == 200, body
    expected = sum(1 for event in events if low <= event["at"] < high)
    assert sum(hour["events"] for hour in body["hours"]) == expected


def _scan_queries(eu: RegionalApi, call: Any) -> tuple[Any, int]:
    """``call()``'s answer and how many Queries of the pending markers (the seal-on-read's scan) it made."""
    client = eu.container.clients.dynamodb(UK)
    scans: list[str] = []

    def seen(params: dict[str, Any], **_: Any) -> None:
        if params.get("FilterExpression") == "attribute_exists(pending)":
            scans.append(params["ExpressionAttributeValues"][":pk"]["S"])

    client.meta.events.register("provide-client-params.dynamodb.Query", seen)
    try:
        answer = call()
    finally:
        client.meta.events.unregister("provide-client-params.dynamodb.Query", seen)
    return answer, len(scans)


def test_activity_scans_the_pending_markers_once_and_still_counts_what_landed_before_it(
        api: dict[str, RegionalApi], school: dict[str, Any], token: TokenFactory) -> None:
    """The chart's read seals what is pending once (as the status read does), not again for the hour it counts
    from the events: an enrolment landed just before it is in the chart, and in the status read after it."""
    eu, officer, tid = api[UK], school["officer"], school["tenant_id"]
    path = f"/v1/tenants/{tid}/audit"
    (status, head), status_scan = _scan_queries(eu, lambda: eu.call("GET", path + "/status", officer))
    assert status == 200
    assert status_scan > 0
    staff = token("tenant_staff", tid, UK)
    assert eu.call("POST", f"/v1/tenants/{tid}/learners", staff, {**ALICE, "email": "late@example.org"})[0] == 201
    since = (datetime.now(UTC) - timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%SZ")  # within an hour: counted
    (status, body), activity_scan = _scan_queries(eu, lambda: eu.call("GET", f"{path}/activity?from={since}",
                                                                       officer))
    assert status == 200, body
    assert activity_scan == status_scan  # one pass over the marker partitions
    status, after = eu.call("GET", path + "/status", officer)
    # the enrolment and the status read before the chart are in it; the chart's own read is not
    assert sum(hour["events"] for hour in body["hours"]) >= 2
    assert after["events"] == head["events"] + 3  # status read, enrolment, chart read
    chained = {e["action"] for e in eu.container.audit_store.events(tid, "UK", head["events"] + 1)}
    assert {"audit.status", "learner.create"} <= chained
