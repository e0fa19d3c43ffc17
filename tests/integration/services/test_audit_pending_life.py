"""Every pending audit event's life is checked: what first landed for an event id is what gets chained, once.

Someone with write access to the audit table may delete a pending event and put it back altered under the
same key, rewrite it in place, or put it back after a read sealed it. The sequencer (driven here by the
emulator's DynamoDB stream, as Lambda drives it) records each as an ``audit.event_altered`` finding, never
chains the later image, and no event id is chained twice: the seal's transaction puts the event id's landed
record only if it has none.
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from chalicelib.adapters.audit_store import SEAL_BATCH
from chalicelib.domain.audit.pending import landed_digest
from chalicelib.domain.ids import new_id
from chalicelib.services.audit.sequencer import Sequencer
from tests.integration.adapters.test_one_round_trip import counted
from tests.integration.conftest import Emulated
from tests.integration.services.test_audit_sequencer import (
    TABLE,
    _draft,
    _items,
    _marker,
    _records,
    _rewrite,
    _store,
    _verifies,
)
from tests.support.audit_keys import marker_key

FORGED_ACTION = "learner.erase"
FORGED_SUB = "someone-else"


def _key(tenant_id: str, event_id: str) -> dict[str, Any]:
    return marker_key(tenant_id, event_id)


def _delete(emulated: Emulated, tenant_id: str, event_id: str) -> dict[str, Any]:
    item = _marker(emulated, tenant_id, event_id)
    emulated.clients.dynamodb("eu-west-2").delete_item(TableName=TABLE, Key=_key(tenant_id, event_id))
    return item


def _put_back_forged(emulated: Emulated, tenant_id: str, landed: Mapping[str, Any]) -> None:
    """Someone deletes the event's marker and puts it back, same key, with another action and actor."""
    item = _delete(emulated, tenant_id, landed["event_id"])
    forged = {**landed, "action": FORGED_ACTION, "actor": {"sub": FORGED_SUB, "role": "tenant_admin"}}
    emulated.clients.dynamodb("eu-west-2").put_item(TableName=TABLE, Item={
        **{key: value for key, value in item.items() if key not in ("sealed_seq", "pending")},
        "pending": {"S": json.dumps(forged, separators=(",", ":"))}})


class _Findings:
    """The sequencer's alarms, counted."""

    def __init__(self) -> None:
        self.altered = 0
        self.missing = 0

    def sequencer(self, emulated: Emulated) -> Sequencer:
        return Sequencer(_store(emulated), on_missing=self._on_missing, on_altered=self._on_altered)

    def _on_missing(self) -> None:
        self.missing += 1

    def _on_altered(self) -> None:
        self.altered += 1


def _stream(emulated: Emulated, tenant_id: str, findings: _Findings, times: int = 1) -> list[dict[str, Any]]:
    """Deliver the tenant's stream so far ``times`` to the sequencer; return the chain afterwards."""
    records = _records(emulated, tenant_id)
    sequencer = findings.sequencer(emulated)
    for _ in range(times):
        sequencer.handle({"Records": records})
    return list(_store(emulated).events(tenant_id, "UK"))


def _forged(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["action"] == FORGED_ACTION or e["actor"]["sub"] == FORGED_SUB]


def _originals(events: list[dict[str, Any]]) -> list[int]:
    return sorted(e["details"]["n"] for e in events if e["action"] == "learner.read")


def _altered(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e["details"] for e in events if e["action"] == "audit.event_altered"]


def test_pending_events_deleted_and_put_back_altered_are_all_found_and_never_chained(emulated: Emulated) -> None:
    tenant_id = new_id("tnt")
    store = _store(emulated)
    landed = [store.commit(tenant_id, "UK", _draft(n)) for n in range(7)]
    for event in landed[1:6]:
        _put_back_forged(emulated, tenant_id, event)
    findings = _Findings()
    events = _stream(emulated, tenant_id, findings)
    assert findings.altered == 5
    altered = _altered(events)
    assert sorted(a["event_id"] for a in altered) == sorted(e["event_id"] for e in landed[1:6])
    assert {(a["change"], tuple(a["fields"])) for a in altered} == {("pending_replaced", ("action", "actor"))}
    assert _forged(events) == []
    assert _originals(events) == list(range(7))  # each original chained once, from what first landed
    assert findings.missing == 0
    assert _verifies(events, tenant_id)
    assert FORGED_SUB not in json.dumps(events)


def test_pending_events_rewritten_in_place_are_all_found_and_chained_once_as_they_landed(emulated: Emulated) -> None:
    tenant_id = new_id("tnt")
    store = _store(emulated)
    landed = [store.commit(tenant_id, "UK", _draft(n)) for n in range(6)]
    for event in landed[:5]:
        _rewrite(emulated, _marker(emulated, tenant_id, event["event_id"]), action=FORGED_ACTION,
                 actor={"sub": FORGED_SUB, "role": "tenant_admin"})
    findings = _Findings()
    events = _stream(emulated, tenant_id, findings, times=2)
    assert findings.altered == 5
    assert sorted(a["event_id"] for a in _altered(events)) == sorted(e["event_id"] for e in landed[:5])
    assert {a["change"] for a in _altered(events)} == {"rewritten"}
    assert _forged(events) == []
    assert _originals(events) == list(range(6))
    assert _verifies(events, tenant_id)


def test_a_read_that_sealed_first_then_a_forgery_then_the_stream_chains_the_event_once(emulated: Emulated) -> None:
    tenant_id = new_id("tnt")
    store = _store(emulated)
    landed = [store.commit(tenant_id, "UK", _draft(n)) for n in range(2)]
    assert [e["seq"] for e in _store(emulated).events(tenant_id, "UK")] == [1, 2]  # seal-on-read
    _put_back_forged(emulated, tenant_id, landed[0])
    assert _store(emulated).seal(tenant_id, "UK") == 0  # another read before the stream: refused, no error
    findings = _Findings()
    events = _stream(emulated, tenant_id, findings, times=2)
    assert _originals(events) == [0, 1]
    assert _forged(events) == []
    assert _altered(events) == [{"event_id": landed[0]["event_id"], "change": "pending_replaced",
                                 "fields": ["action", "actor"], "sealed_seq": 1}]
    assert findings.altered == 1
    assert _marker(emulated, tenant_id, landed[0]["event_id"])["sealed_seq"] == {"N": "1"}  # no longer pending
    assert _verifies(events, tenant_id)


def test_an_event_put_back_in_a_later_batch_is_found_and_not_chained_again(emulated: Emulated) -> None:
    """The first batch chained the event; the deletion and the forgery come in the next one."""
    tenant_id = new_id("tnt")
    store = _store(emulated)
    landed = store.commit(tenant_id, "UK", _draft(0))
    first = _records(emulated, tenant_id)
    findings = _Findings()
    findings.sequencer(emulated).handle({"Records": first})
    _put_back_forged(emulated, tenant_id, landed)
    assert _store(emulated).seal(tenant_id, "UK") == 0
    later = _records(emulated, tenant_id)[len(first):]
    findings.sequencer(emulated).handle({"Records": later})
    events = list(store.events(tenant_id, "UK"))
    assert _originals(events) == [0]
    assert _forged(events) == []
    assert [(a["change"], a.get("sealed_seq")) for a in _altered(events)] == [("pending_replaced", 1)]
    assert findings.altered == 1


def test_a_pending_event_deleted_is_one_finding_and_a_later_put_back_is_refused(emulated: Emulated) -> None:
    tenant_id = new_id("tnt")
    store = _store(emulated)
    landed = [store.commit(tenant_id, "UK", _draft(n)) for n in range(2)]
    _delete(emulated, tenant_id, landed[0]["event_id"])
    findings = _Findings()
    events = _stream(emulated, tenant_id, findings, times=2)
    assert _originals(events) == [1]  # the deleted event is reported, not chained
    assert [(a["event_id"], a["change"]) for a in _altered(events)] == [(landed[0]["event_id"], "pending_removed")]
    assert (findings.altered, findings.missing) == (1, 0)
    seen = len(_records(emulated, tenant_id))
    emulated.clients.dynamodb("eu-west-2").put_item(TableName=TABLE, Item={  # put back, altered, much later
        **_key(tenant_id, landed[0]["event_id"]), "tenant_id": {"S": tenant_id}, "jurisdiction": {"S": "UK"},
        "pending": {"S": json.dumps({**landed[0], "action": FORGED_ACTION})}})
    assert _store(emulated).seal(tenant_id, "UK") == 0  # a read does not chain it
    findings.sequencer(emulated).handle({"Records": _records(emulated, tenant_id)[seen:]})  # the next batch
    events = list(store.events(tenant_id, "UK"))
    assert _forged(events) == []
    assert [a["change"] for a in _altered(events)] == ["pending_removed", "pending_replaced"]
    assert findings.altered == 2
    assert _verifies(events, tenant_id)


def test_a_forgery_sealed_by_a_read_before_the_stream_is_chained_once_and_named(emulated: Emulated) -> None:
    """What is not prevented: a read that seals before the stream arrives chains what it finds. The stream
    still names it (what first landed is the stream's evidence), and the event id is chained once."""
    tenant_id = new_id("tnt")
    store = _store(emulated)
    landed = store.commit(tenant_id, "UK", _draft(0))
    _put_back_forged(emulated, tenant_id, landed)
    assert _store(emulated).seal(tenant_id, "UK") == 1
    findings = _Findings()
    events = _stream(emulated, tenant_id, findings, times=2)
    assert len(_forged(events)) == 1
    assert [(a["event_id"], a["change"]) for a in _altered(events)] == [(landed["event_id"], "pending_replaced")]
    assert findings.altered == 1
    assert _verifies(events, tenant_id)


def test_the_sealers_own_changes_are_no_finding(emulated: Emulated) -> None:
    """The sealer marks a pending event sealed and never deletes one; its changes, the landed records it
    puts included, are no finding however often and by however many sequencers the stream is read."""
    tenant_id = new_id("tnt")
    store = _store(emulated)
    for n in range(3):
        store.commit(tenant_id, "UK", _draft(n))
    assert _store(emulated).seal(tenant_id, "UK") == 3
    store.commit(tenant_id, "UK", _draft(3))
    findings = _Findings()
    for _ in range(2):
        _stream(emulated, tenant_id, findings, times=2)
    records = _records(emulated, tenant_id)
    assert not any(r["eventName"] == "REMOVE" for r in records)
    assert any(r["dynamodb"]["Keys"]["sk"]["S"].startswith("LND#") for r in records)
    assert (findings.altered, findings.missing) == (0, 0)
    assert _originals(list(store.events(tenant_id, "UK"))) == [0, 1, 2, 3]


def test_a_redelivered_batch_records_each_finding_once(emulated: Emulated) -> None:
    tenant_id = new_id("tnt")
    store = _store(emulated)
    landed = [store.commit(tenant_id, "UK", _draft(n)) for n in range(5)]
    for event in landed[:2]:
        _put_back_forged(emulated, tenant_id, event)
    _delete(emulated, tenant_id, landed[2]["event_id"])
    _rewrite(emulated, _marker(emulated, tenant_id, landed[3]["event_id"]), action=FORGED_ACTION)
    findings = _Findings()
    first = _stream(emulated, tenant_id, findings, times=3)  # Lambda retried the batch twice
    again = _stream(emulated, tenant_id, findings, times=2)  # another container, the stream since the start
    assert first == again
    assert sorted(a["change"] for a in _altered(again)) == [
        "pending_removed", "pending_replaced", "pending_replaced", "rewritten"]
    assert (findings.altered, findings.missing) == (4, 0)
    assert _forged(again) == []
    assert _originals(again) == [0, 1, 3, 4]
    assert _verifies(again, tenant_id)


def test_every_chained_event_has_one_landed_record_of_what_was_chained(emulated: Emulated) -> None:
    tenant_id = new_id("tnt")
    store = _store(emulated)
    landed = [store.commit(tenant_id, "UK", _draft(n)) for n in range(3)]
    store.seal(tenant_id, "UK")
    records = {item["sk"]["S"][4:]: item for item in _items(emulated, tenant_id, "LND#")}
    assert {event_id: (r["landed"]["S"], r["seq"]["N"]) for event_id, r in records.items()} == {
        e["event_id"]: (landed_digest(e), str(seq)) for seq, e in enumerate(landed, start=1)}


def test_a_first_delivery_reads_no_more_than_before(emulated: Emulated) -> None:
    """150 landed events, sealed by the sequencer itself: no read of the landed records (the seal's own
    transaction wrote them), no scan of the pending window, no write outside the seal's transactions."""
    tenant_id = new_id("tnt")
    store = _store(emulated)
    for n in range(150):
        store.commit(tenant_id, "UK", _draft(n))
    records = _records(emulated, tenant_id)
    with counted(emulated) as calls:
        assert Sequencer(_store(emulated)).handle({"Records": records}) == 150
    assert calls.names.count("BatchGetItem") == 4  # 100 + 50 to seal by key, 100 + 50 to check them sealed
    assert calls.names.count("TransactWriteItems") == math.ceil(150 / SEAL_BATCH)
    assert "Query" not in calls.names
    assert "PutItem" not in calls.names


def test_a_landed_record_deleted_is_recorded_and_put_back(emulated: Emulated) -> None:
    """Deleting an event id's landed record would make room to chain it again: reported, and put back."""
    tenant_id = new_id("tnt")
    store = _store(emulated)
    landed = store.commit(tenant_id, "UK", _draft(0))
    assert store.seal(tenant_id, "UK") == 1
    emulated.clients.dynamodb("eu-west-2").delete_item(
        TableName=TABLE, Key=marker_key(tenant_id, landed["event_id"], "LND#"))
    findings = _Findings()
    events = _stream(emulated, tenant_id, findings, times=2)
    assert _altered(events) == [{"event_id": landed["event_id"], "change": "landed_record_removed",
                                 "fields": ["landed", "seq"], "sealed_seq": 1}]
    assert findings.altered == 1
    record = emulated.clients.dynamodb("eu-west-2").get_item(
        TableName=TABLE, ConsistentRead=True, Key=marker_key(tenant_id, landed["event_id"], "LND#"))["Item"]
    assert (record["landed"]["S"], record["seq"]["N"]) == (landed_digest(landed), "1")
    _put_back_forged(emulated, tenant_id, landed)
    assert _store(emulated).seal(tenant_id, "UK") == 0
    assert _forged(list(store.events(tenant_id, "UK"))) == []
