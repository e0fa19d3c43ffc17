"""The OCSF stream to SIEMs: every sealed event once, in order, valid OCSF API Activity, ids only; a
compliance officer switches it per tenant."""
from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema
import pytest

from chalicelib.adapters.audit_store import AuditStore
from chalicelib.adapters.data_store import DataStore
from chalicelib.adapters.siem_bucket import SiemBucket
from chalicelib.adapters.siem_cursor import SiemCursors
from chalicelib.domain.audit import AuditEventDraft
from chalicelib.domain.ids import new_id
from chalicelib.domain.ocsf import decode
from chalicelib.services.audit.sequencer import Sequencer
from chalicelib.services.siem_delivery import SiemDelivery
from chalicelib.settings import PROJECT_ROOT
from tests.integration.audit_streams import audit_store, poller
from tests.integration.conftest import Emulated, RegionalApi, TokenFactory

REGION = "eu-west-2"
BUCKET = f"enclave-siem-{REGION}"
SCHEMA = json.loads((PROJECT_ROOT / "schemas" / "ocsf" / "1.2.0" / "api_activity.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
PLANTED = "Perpetua.Featherstonehaugh@family.uk"
"""A personal value put where no caller may put one (an event's details): the stream must not carry it."""


class _Clock:
    """Moves 11 seconds a call: 1,000 events span three hours (three hour partitions)."""

    def __init__(self) -> None:
        self.at = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.at += timedelta(seconds=11)
        return self.at


def _draft(n: int) -> AuditEventDraft:
    return AuditEventDraft(actor_sub=f"staff-{n % 3}", actor_role=("tenant_staff", "tenant_admin", "system")[n % 3],
                           action=("learner.read", "learner.create", "learner.erase", "incident.list")[n % 4],
                           resource=f"tenants/t/learners/lrn_{n}", outcome=("success", "denied")[n % 2],
                           request_id=f"r-{n}", details={"n": n, "contact": PLANTED})


class _Cursors(SiemCursors):
    """The real cursor store, whose next ``advance`` can fail once (a delivery dying after its writes)."""

    fail_next_advance = False

    def advance(self, jurisdiction: str, tenant_id: str, claim_to: int) -> bool:
        if self.fail_next_advance:
            self.fail_next_advance = False
            raise RuntimeError("the process died")
        return super().advance(jurisdiction, tenant_id, claim_to)


class _CountingBucket(SiemBucket):
    """The real bucket, remembering every write it is asked for."""

    def __init__(self, client: Any, bucket: str) -> None:
        super().__init__(client, bucket)
        self.attempts: list[str] = []

    def put_once(self, key: str, body: bytes) -> bool:
        self.attempts.append(key)
        return super().put_once(key, body)


def _cursors(emulated: Emulated) -> _Cursors:
    data = DataStore(emulated.clients.dynamodb(REGION), REGION, lambda code: f"enclave-data-{code.lower()}",
                     emulated.jurisdictions, lambda code: f"enclave-keys-{code.lower()}")
    return _Cursors(emulated.clients.dynamodb(REGION), data)


def _delivery(emulated: Emulated, store: AuditStore, cursors: SiemCursors, failures: list[int]) -> SiemDelivery:
    bucket = SiemBucket(emulated.clients.s3(REGION), BUCKET)
    return SiemDelivery(cursors, store.markers, bucket, REGION, "123456789012",
                        on_failure=lambda: failures.append(1))


def _switch(emulated: Emulated, tenant_id: str, enabled: bool) -> None:
    change = _cursors(emulated).switch("UK", tenant_id, enabled, "2026-12-05T09:00:00.000000Z", "officer")
    emulated.clients.dynamodb(REGION).transact_write_items(TransactItems=[change])


def _objects(emulated: Emulated, tenant_id: str) -> dict[str, bytes]:
    s3 = emulated.clients.s3(REGION)
    found = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for item in page.get("Contents", []):
            if f"/tenant={tenant_id}/" in item["Key"]:
                found[item["Key"]] = s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
    return found


def _versions(emulated: Emulated, tenant_id: str) -> int:
    s3 = emulated.clients.s3(REGION)
    pages = s3.get_paginator("list_object_versions").paginate(Bucket=BUCKET)
    return sum(1 for page in pages for v in page.get("Versions", []) if f"/tenant={tenant_id}/" in v["Key"])


def _records(emulated: Emulated, tenant_id: str) -> list[dict[str, Any]]:
    objects = _objects(emulated, tenant_id)
    return [record for key in sorted(objects) for record in decode(objects[key])]


def _run(emulated: Emulated, handle: Callable[[Mapping[str, Any]], Any]) -> list[Mapping[str, Any]]:
    """Deliver the UK audit table's stream to ``handle``, as Lambda would; the batches it received."""
    batches: list[Mapping[str, Any]] = []

    def handler(event: Mapping[str, Any]) -> None:
        batches.append(event)
        handle(event)

    poller(emulated, handler).poll_once()
    return batches


@pytest.fixture(scope="module")
def streamed(emulated: Emulated) -> dict[str, Any]:
    """1,000 events of one tenant whose stream is on, sealed and delivered by the sequencer."""
    tenant_id = new_id("tnt")
    _switch(emulated, tenant_id, True)
    store = audit_store(emulated, clock=_Clock())
    for n in range(1000):
        store.commit(tenant_id, "UK", _draft(n))
    failures: list[int] = []
    sealer = audit_store(emulated)
    sequencer = Sequencer(sealer, after_tenant=_delivery(emulated, sealer, _cursors(emulated), failures).after_batch)
    batches = _run(emulated, sequencer.handle)
    return {"tenant_id": tenant_id, "batches": batches, "failures": failures}


def test_a_thousand_events_stream_as_seqs_1_to_1000_once_each_in_valid_ocsf(
        streamed: dict[str, Any], emulated: Emulated) -> None:
    records = _records(emulated, streamed["tenant_id"])
    assert [r["metadata"]["sequence"] for r in records] == list(range(1, 1001))
    invalid = [(r["metadata"]["sequence"], e.message) for r in records for e in VALIDATOR.iter_errors(r)]
    assert invalid == []
    chain = list(audit_store(emulated).events(streamed["tenant_id"], "UK"))
    assert [r["metadata"]["uid"] for r in records] == [e["hash"] for e in chain]
    assert {r["metadata"]["tenant_uid"] for r in records} == {streamed["tenant_id"]}
    assert {r["class_uid"] for r in records} == {6003}
    assert streamed["failures"] == []


def test_objects_sit_in_the_security_lake_layout_by_tenant_and_hour(
        streamed: dict[str, Any], emulated: Emulated) -> None:
    objects = _objects(emulated, streamed["tenant_id"])
    hours = set()
    for key, body in objects.items():
        prefix = (f"ext/enclave-audit/region={REGION}/accountId=123456789012/eventDay=20261205/"
                  f"tenant={streamed['tenant_id']}/eventHour=")
        assert key.startswith(prefix), key
        hour = key[len(prefix):len(prefix) + 2]
        hours.add(hour)
        times = {datetime.fromtimestamp(r["time"] / 1000, UTC).strftime("%H") for r in decode(body)}
        assert times == {hour}, key  # every record of an object is of its hour partition
        first, last = (int(part) for part in key.rsplit("/", 1)[1].removesuffix(".json.gz").split("-"))
        assert [r["metadata"]["sequence"] for r in decode(body)] == list(range(first, last + 1))
    assert hours == {"09", "10", "11", "12"}


def test_the_stream_carries_no_personal_value(streamed: dict[str, Any], emulated: Emulated) -> None:
    records = _records(emulated, streamed["tenant_id"])
    text = json.dumps(records)
    assert PLANTED not in text
    assert PLANTED.lower() not in text
    assert "details" not in text  # details are never mapped: ids, actions, outcomes, times and hashes only


def test_a_redelivered_batch_writes_nothing_twice(streamed: dict[str, Any], emulated: Emulated) -> None:
    tenant_id = streamed["tenant_id"]
    before, versions = _objects(emulated, tenant_id), _versions(emulated, tenant_id)
    bucket = _CountingBucket(emulated.clients.s3(REGION), BUCKET)
    sealer = audit_store(emulated)
    delivery = SiemDelivery(_cursors(emulated), sealer.markers, bucket, REGION, "123456789012")
    again = Sequencer(sealer, after_tenant=delivery.after_batch)
    for batch in streamed["batches"]:
        again.handle(batch)
    assert bucket.attempts == []  # not even tried: the cursor is past every event the batches name
    assert _objects(emulated, tenant_id) == before
    assert _versions(emulated, tenant_id) == versions == len(before)


def test_a_delivery_dying_after_its_writes_is_redone_without_a_second_copy(emulated: Emulated) -> None:
    tenant_id = new_id("tnt")
    _switch(emulated, tenant_id, True)
    store = audit_store(emulated)
    for n in range(30):
        store.commit(tenant_id, "UK", _draft(n))
    cursors, failures = _cursors(emulated), []
    cursors.fail_next_advance = True
    delivery = _delivery(emulated, store, cursors, failures)
    store.seal(tenant_id, "UK")
    with pytest.raises(RuntimeError):
        delivery.deliver(tenant_id, "UK")  # objects written, cursor not moved: the claim stands
    assert cursors.state("UK", tenant_id).claim_to == 30
    for n in range(30, 45):
        store.commit(tenant_id, "UK", _draft(n))
    store.seal(tenant_id, "UK")
    written = set(_objects(emulated, tenant_id))
    bucket = _CountingBucket(emulated.clients.s3(REGION), BUCKET)
    delivery = SiemDelivery(cursors, store.markers, bucket, REGION, "123456789012")
    assert delivery.deliver(tenant_id, "UK") == 45  # the claimed run redone (refused where written), then the rest
    assert written <= set(bucket.attempts)  # tried again, and refused: one version each (below)
    assert [r["metadata"]["sequence"] for r in _records(emulated, tenant_id)] == list(range(1, 46))
    assert _versions(emulated, tenant_id) == len(_objects(emulated, tenant_id))
    assert cursors.state("UK", tenant_id).delivered == 45


def test_a_tenant_whose_stream_is_off_gets_nothing_written(emulated: Emulated) -> None:
    tenant_id = new_id("tnt")
    store = audit_store(emulated)
    for n in range(5):
        store.commit(tenant_id, "UK", _draft(n))
    store.seal(tenant_id, "UK")
    assert _delivery(emulated, store, _cursors(emulated), []).deliver(tenant_id, "UK") == 0
    assert _objects(emulated, tenant_id) == {}


def test_a_failing_bucket_never_fails_the_sequencers_batch(emulated: Emulated) -> None:
    tenant_id = new_id("tnt")
    _switch(emulated, tenant_id, True)
    store = audit_store(emulated)
    store.commit(tenant_id, "UK", _draft(1))
    failures: list[int] = []
    broken = SiemDelivery(_cursors(emulated), store.markers, SiemBucket(emulated.clients.s3(REGION), "no-such-bucket"),
                          REGION, "123456789012", on_failure=lambda: failures.append(1))
    store.seal(tenant_id, "UK")
    assert broken.after_batch(tenant_id, "UK") == 0
    assert failures == [1]
    assert _cursors(emulated).state("UK", tenant_id).delivered == 0  # retried from here by the next batch
    assert _delivery(emulated, store, _cursors(emulated), []).deliver(tenant_id, "UK") == 1


# --------------------------------------------------------------------------- the officer's switch (API)


def _stream(api: RegionalApi, token: str, tenant_id: str, enabled: bool | None = None) -> tuple[int, Any]:
    path = f"/v1/tenants/{tenant_id}/audit/stream"
    return api.call("GET", path, token) if enabled is None else api.call("PUT", path, token, {"enabled": enabled})


def test_an_officer_switches_the_stream_off_and_on_and_delivery_resumes_from_the_cursor(
        api: dict[str, RegionalApi], token: TokenFactory, onboard: Callable[..., dict[str, Any]],
        emulated: Emulated) -> None:
    regional = api[REGION]
    tenant_id = onboard("UK")["tenant_id"]
    officer = token("compliance_officer", region=REGION)
    status, body = _stream(regional, officer, tenant_id)
    assert status == 200, body
    assert (body["enabled"], body["delivered_seq"]) == (False, 0)
    assert _stream(regional, officer, tenant_id, True)[0] == 200
    store = regional.container.audit_store
    stream = poller(emulated, regional.container.sequencer.handle)  # one reader: each poll goes on where it was

    def land(count: int) -> None:
        for n in range(count):
            store.commit(tenant_id, "UK", _draft(n))
        stream.poll_once()

    land(5)
    delivered = _stream(regional, officer, tenant_id)[1]["delivered_seq"]
    streamed = [r["metadata"]["sequence"] for r in _records(emulated, tenant_id)]
    assert streamed == list(range(1, delivered + 1))
    assert delivered >= 7
    status, off = _stream(regional, officer, tenant_id, False)
    assert status == 200
    assert off["enabled"] is False
    land(4)
    assert [r["metadata"]["sequence"] for r in _records(emulated, tenant_id)] == streamed  # nothing while off
    assert _stream(regional, officer, tenant_id, True)[1]["enabled"] is True
    land(1)
    records = _records(emulated, tenant_id)
    head = list(store.events(tenant_id, "UK"))[-1]["seq"]
    assert [r["metadata"]["sequence"] for r in records] == list(range(1, head + 1))  # the gap back-filled, once
    actions = [r["api"]["operation"] for r in records]
    assert actions.count("siem_stream.update") == 3
    switch = next(r for r in records if r["api"]["operation"] == "siem_stream.update")
    assert switch["actor"]["user"]["groups"] == [{"name": "compliance_officer"}]
    assert switch["activity_id"] == 3


def test_only_officers_and_platform_admins_switch_the_stream_and_a_bad_body_is_refused(
        api: dict[str, RegionalApi], token: TokenFactory, onboard: Callable[..., dict[str, Any]]) -> None:
    regional = api[REGION]
    tenant_id = onboard("UK")["tenant_id"]
    assert _stream(regional, token("tenant_admin", tenant_id, REGION), tenant_id, True)[0] == 403
    assert _stream(regional, token("regional_admin", region=REGION), tenant_id, True)[0] == 403
    assert _stream(regional, token("platform_admin", region=REGION), tenant_id, True)[0] == 200
    officer = token("compliance_officer", region=REGION)
    for bad in ({"enabled": "yes"}, {}, {"enabled": True, "more": 1}):
        status, body = regional.call("PUT", f"/v1/tenants/{tenant_id}/audit/stream", officer, bad)
        assert status == 422, body
        assert set(body["error"]) >= {"code", "message"}
    assert _stream(regional, officer, tenant_id)[1]["enabled"] is True


def test_the_schema_refuses_what_is_not_api_activity() -> None:
    from chalicelib.domain.ocsf import to_ocsf

    event = {"tenant_id": "tnt_x", "seq": 1, "prev_hash": "0" * 64, "hash": "a" * 64,
             "at": "2026-12-05T13:04:05.123456Z", "region": REGION, "actor": {"sub": "s", "role": "system"},
             "action": "audit.event_altered", "resource": "audit", "outcome": "detected", "request_id": "r",
             "details": {}}
    record = to_ocsf(event)
    assert list(VALIDATOR.iter_errors(record)) == []
    assert record["severity_id"] == 4
    assert record["activity_id"] == 99
    for broken in ({**record, "class_uid": 3001}, {**record, "api": {}}, {**record, "email": PLANTED},
                   {k: v for k, v in record.items() if k != "time"}):
        assert list(VALIDATOR.iter_errors(broken)), broken
