"""The request path lands events without a per-tenant head; the stream handler and seal-now chain them."""
from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from chalicelib.adapters.audit_store import PENDING_WINDOW, SCAN_PAGE, AuditStore
from chalicelib.composition import Container, use
from chalicelib.domain.audit import GENESIS_HASH, AuditEventDraft, format_at
from chalicelib.domain.audit.layout import MARKER_SHARDS, tenant_of_pk
from chalicelib.domain.audit.verify import verify_chain
from chalicelib.domain.errors import Throttled
from chalicelib.domain.ids import new_id
from chalicelib.services.audit.sequencer import Sequencer
from tests.integration.adapters.test_one_round_trip import counted
from tests.integration.audit_streams import audit_store, poller, sequence
from tests.integration.conftest import Emulated
from tests.support.audit_keys import marker_key, tenant_items
from tests.unit.domain.test_audit_chain import manifest_for

TABLE = "enclave-audit-uk"


def _draft(n: int) -> AuditEventDraft:
    return AuditEventDraft(actor_sub="staff", actor_role="tenant_staff", action="learner.read",
                           resource=f"learners/{n}", outcome="success", request_id=f"r-{n}", details={"n": n})


def _items(emulated: Emulated, tenant_id: str, prefix: str) -> list[dict[str, Any]]:
    return tenant_items(emulated.clients.dynamodb("eu-west-2"), TABLE, tenant_id, prefix)


def test_requests_never_touch_a_per_tenant_head(emulated: Emulated) -> None:
    tenant_id = new_id("tnt")
    store = audit_store(emulated)
    for n in range(3):
        landed = store.commit(tenant_id, "UK", _draft(n))
        assert "seq" not in landed
        assert "prev_hash" not in landed
    assert _items(emulated, tenant_id, "HEAD") == []
    assert len(_items(emulated, tenant_id, "PND#")) == 3


def test_reading_the_trail_seals_what_is_pending_first(emulated: Emulated) -> None:
    tenant_id = new_id("tnt")
    store = audit_store(emulated)
    for n in range(4):
        store.commit(tenant_id, "UK", _draft(n))
    events = list(audit_store(emulated).events(tenant_id, "UK"))  # another container, no stream run yet
    assert [e["seq"] for e in events] == [1, 2, 3, 4]
    assert events[0]["prev_hash"] == GENESIS_HASH
    assert [e["details"]["n"] for e in events] == [0, 1, 2, 3]  # landing order
    assert not any("pending" in item for item in _items(emulated, tenant_id, "PND#"))


def test_events_landing_at_the_same_instant_keep_their_order(emulated: Emulated) -> None:
    """A clock that does not move between two requests (a coarse clock, a frozen test clock) must not
    let the sequencer put a later event of the same process before an earlier one."""
    tenant_id = new_id("tnt")
    instant = datetime.now(UTC)
    store = audit_store(emulated, clock=lambda: instant)
    for n in range(30):
        store.commit(tenant_id, "UK", _draft(n))
    events = list(audit_store(emulated).events(tenant_id, "UK"))
    assert [e["details"]["n"] for e in events] == list(range(30))


def test_a_stream_batch_delivered_twice_changes_nothing(emulated: Emulated) -> None:
    tenant_id = new_id("tnt")
    store = audit_store(emulated)
    for n in range(6):
        store.commit(tenant_id, "UK", _draft(n))
    batches = sequence(emulated)
    assert batches, "the stream delivered the landed events"
    before = _items(emulated, tenant_id, "EVT#") + _items(emulated, tenant_id, "HEAD")
    assert len(before) == 7
    redelivered = Sequencer(audit_store(emulated))
    assert sum(redelivered.handle(batch) for batch in batches) == 0
    assert _items(emulated, tenant_id, "EVT#") + _items(emulated, tenant_id, "HEAD") == before


def test_stream_handler_and_seal_now_racing_make_one_chain(emulated: Emulated) -> None:
    tenant_id = new_id("tnt")
    writer = audit_store(emulated)
    for n in range(120):
        writer.commit(tenant_id, "UK", _draft(n))
    sealers = [threading.Thread(target=audit_store(emulated).seal, args=(tenant_id, "UK")) for _ in range(4)]
    for thread in sealers:
        thread.start()
    sequence(emulated)
    for thread in sealers:
        thread.join()
    events = list(writer.events(tenant_id, "UK"))
    assert [e["seq"] for e in events] == list(range(1, 121))
    assert sorted(e["details"]["n"] for e in events) == list(range(120))
    assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(events))


class _Counting:
    """A DynamoDB client that adds up what each Query read (ScannedCount): the cost a scan grows with."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()  # the store queries marker partitions from several threads at once
        self.scanned = 0
        self.pending_scans: list[int] = []  # items each Query of the pending markers read
        self.transactions = 0

    def query(self, **kwargs: Any) -> Any:
        page = self._client.query(**kwargs)
        with self._lock:
            self.scanned += page.get("ScannedCount", 0)
            if kwargs.get("ExpressionAttributeValues", {}).get(":lo", {}).get("S", "").startswith("PND#"):
                self.pending_scans.append(page.get("ScannedCount", 0))
        return page

    def transact_write_items(self, **kwargs: Any) -> Any:
        self.transactions += 1
        return self._client.transact_write_items(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


class _Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def _store(emulated: Emulated, client: Any = None, clock: Any = None) -> AuditStore:
    now = clock or (lambda: datetime.now(UTC))  # here the landing clock too: stragglers are made by moving it
    return AuditStore(client or emulated.clients.dynamodb("eu-west-2"), lambda code: f"enclave-audit-{code.lower()}",
                      "eu-west-2", now, landing_clock=now)


def _stream_batches(emulated: Emulated) -> list[Mapping[str, Any]]:
    """What the stream holds now, as Lambda would deliver it, without handling it."""
    batches: list[Mapping[str, Any]] = []
    poller(emulated, batches.append).poll_once()
    return batches


def test_the_pending_scan_reads_only_recent_markers_not_the_history(emulated: Emulated) -> None:
    tenant_id = new_id("tnt")
    clock = _Clock(datetime(2026, 6, 1, 9, 0, tzinfo=UTC))
    counting = _Counting(emulated.clients.dynamodb("eu-west-2"))
    store = _store(emulated, counting, clock)
    for n in range(60):  # an hour of history, one event a minute, sealed as it goes
        store.commit(tenant_id, "UK", _draft(n))
        store.seal(tenant_id, "UK")
        clock.at += timedelta(minutes=1)
    store.commit(tenant_id, "UK", _draft(60))
    counting.scanned = 0
    assert _store(emulated, counting, clock).seal(tenant_id, "UK") == 1  # a fresh container: reads the HEAD
    window = int(PENDING_WINDOW / timedelta(minutes=1))
    # one pass over the window's markers only, not the 60 of the hour
    assert counting.scanned <= window + 2, "the scan read sealed markers older than its window"


def test_a_straggler_below_the_scan_window_is_sealed_by_its_stream_record(emulated: Emulated) -> None:
    tenant_id = new_id("tnt")
    clock = _Clock(datetime(2026, 6, 1, 10, 0, tzinfo=UTC))
    store = _store(emulated, clock=clock)
    store.commit(tenant_id, "UK", _draft(1))
    store.seal(tenant_id, "UK")
    clock.at -= PENDING_WINDOW * 2  # landed with a clock far behind (or stalled that long mid-request)
    store.commit(tenant_id, "UK", _draft(2))
    assert store.seal(tenant_id, "UK") == 0
    assert Sequencer(_store(emulated)).handle({"Records": _records(emulated, tenant_id)}) == 1
    events = list(store.events(tenant_id, "UK"))
    assert [(e["seq"], e["details"]["n"]) for e in events] == [(1, 1), (2, 2)]


def _records(emulated: Emulated, tenant_id: str) -> list[Mapping[str, Any]]:
    return [record for batch in _stream_batches(emulated) for record in batch["Records"]
            if tenant_of_pk(record["dynamodb"]["Keys"]["pk"]["S"]) == tenant_id]


def test_a_pending_event_deleted_before_sealing_is_detected_and_chained_once(emulated: Emulated) -> None:
    tenant_id = new_id("tnt")
    store = _store(emulated)
    landed = [store.commit(tenant_id, "UK", _draft(n)) for n in range(3)]
    records = _records(emulated, tenant_id)
    emulated.clients.dynamodb("eu-west-2").delete_item(  # someone with table access
        TableName=TABLE, Key=marker_key(tenant_id, landed[1]["event_id"]))
    alarms: list[int] = []
    sequencer = Sequencer(_store(emulated), on_missing=lambda: alarms.append(1))
    sequencer.handle({"Records": records})
    sequencer.handle({"Records": records})  # Lambda retries the batch: nothing new
    events = list(store.events(tenant_id, "UK"))
    assert alarms == [1]
    assert [e["action"] for e in events] == ["learner.read", "learner.read", "audit.event_missing"]
    missing = events[2]
    assert missing["details"]["event_id"] == landed[1]["event_id"]
    assert missing["resource"] == "learners/1"
    assert missing["request_id"] == "r-1"
    assert missing["actor"] == {"sub": "system:audit-sequencer", "role": "system"}
    assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(events))


def test_the_chalice_stream_handler_seals_what_the_stream_names(emulated: Emulated,
                                                                containers: dict[str, Container]) -> None:
    """app.py's ``on_dynamodb_record`` handler, invoked the way Lambda invokes it (raw event, context)."""
    import app as app_module

    tenant_id = new_id("tnt")
    store = _store(emulated)
    for n in range(4):
        store.commit(tenant_id, "UK", _draft(n))
    use(containers["eu-west-2"])
    answer = app_module.app.handler_map["audit_sequencer"]({"Records": _records(emulated, tenant_id)}, None)
    assert answer == {"sealed": 4}
    assert len(_items(emulated, tenant_id, "EVT#")) == 4


def test_an_application_clock_far_from_real_time_loses_no_event_on_read(emulated: Emulated) -> None:
    """The scan window is in landing time (the real clock), not in the events' ``at`` (the app's clock)."""
    tenant_id = new_id("tnt")
    audit_store(emulated).commit(tenant_id, "UK", _draft(1))
    audit_store(emulated).seal(tenant_id, "UK")
    audit_store(emulated, clock=lambda: datetime(2020, 1, 1, tzinfo=UTC)).commit(tenant_id, "UK", _draft(2))
    events = list(audit_store(emulated).events(tenant_id, "UK"))
    assert [(e["seq"], e["details"]["n"]) for e in events] == [(1, 1), (2, 2)]
    assert events[1]["at"].startswith("2020-01-01")


def _marker(emulated: Emulated, tenant_id: str, event_id: str) -> dict[str, Any]:
    item = emulated.clients.dynamodb("eu-west-2").get_item(
        TableName=TABLE, ConsistentRead=True, Key=marker_key(tenant_id, event_id, "PND#"))["Item"]
    return dict(item)


def _rewrite(emulated: Emulated, item: dict[str, Any], **changes: Any) -> None:
    """Someone with write access to the table puts ``item`` back with its pending event's fields changed."""
    pending = json.loads(item["pending"]["S"])
    pending.update(changes)
    emulated.clients.dynamodb("eu-west-2").put_item(TableName=TABLE, Item={
        **{key: value for key, value in item.items() if key != "sealed_seq"},
        "pending": {"S": json.dumps(pending, separators=(",", ":"))}})


def _verifies(events: list[dict[str, Any]], tenant_id: str) -> bool:
    return verify_chain(events, manifest_for(events, tenant_id=tenant_id)).valid


def test_a_pending_event_rewritten_before_sealing_is_detected_and_chained_once(emulated: Emulated) -> None:
    tenant_id = new_id("tnt")
    store = _store(emulated)
    landed = [store.commit(tenant_id, "UK", _draft(n)) for n in range(3)]
    forged = {"n": "a value someone wrote"}
    _rewrite(emulated, _marker(emulated, tenant_id, landed[1]["event_id"]), outcome="denied", details=forged)
    records = _records(emulated, tenant_id)
    altered: list[int] = []
    sequencer = Sequencer(_store(emulated), on_altered=lambda: altered.append(1))
    sequencer.handle({"Records": records})
    sequencer.handle({"Records": records})  # Lambda retries the batch: recorded once
    events = list(store.events(tenant_id, "UK"))
    assert altered == [1]
    # the finding sorts right after the event it names
    assert [e["action"] for e in events] == ["learner.read"] * 2 + ["audit.event_altered", "learner.read"]
    finding = events[2]
    assert finding["details"] == {"event_id": landed[1]["event_id"], "change": "rewritten",
                                  "fields": ["details", "outcome"]}
    assert (finding["resource"], finding["request_id"]) == ("learners/1", "r-1")  # as it landed
    assert finding["actor"] == {"sub": "system:audit-sequencer", "role": "system"}
    assert "a value someone wrote" not in json.dumps(finding)
    assert "denied" not in json.dumps(finding)
    assert _verifies(events, tenant_id)


def test_a_rewrite_read_before_the_stream_arrives_is_still_recorded(emulated: Emulated) -> None:
    """Seal-now chains the rewritten event as it finds it; the stream record still names it afterwards."""
    tenant_id = new_id("tnt")
    store = _store(emulated)
    landed = store.commit(tenant_id, "UK", _draft(1))
    _rewrite(emulated, _marker(emulated, tenant_id, landed["event_id"]), resource="learners/2")
    assert [e["resource"] for e in store.events(tenant_id, "UK")] == ["learners/2"]
    Sequencer(_store(emulated), on_altered=lambda: None).handle({"Records": _records(emulated, tenant_id)})
    events = list(store.events(tenant_id, "UK"))
    assert [e["action"] for e in events] == ["learner.read", "audit.event_altered"]
    assert events[1]["details"]["fields"] == ["resource"]
    assert events[1]["resource"] == "learners/1"
    assert _verifies(events, tenant_id)


def test_an_event_put_again_over_its_sealed_marker_is_not_chained_twice(emulated: Emulated) -> None:
    tenant_id = new_id("tnt")
    store = _store(emulated)
    landed = [store.commit(tenant_id, "UK", _draft(n)) for n in range(2)]
    assert store.seal(tenant_id, "UK") == 2
    sealed = _marker(emulated, tenant_id, landed[0]["event_id"])
    assert "pending" not in sealed
    replay = {**sealed, "pending": {"S": json.dumps(landed[0], separators=(",", ":"))}}
    _rewrite(emulated, replay)  # the event as it landed, put back over its marker
    altered: list[int] = []
    sequencer = Sequencer(_store(emulated), on_altered=lambda: altered.append(1))
    records = _records(emulated, tenant_id)
    sequencer.handle({"Records": records})
    sequencer.handle({"Records": records})
    events = list(_store(emulated).events(tenant_id, "UK"))
    assert [(e["action"], e["details"].get("n")) for e in events] == [
        ("learner.read", 0), ("learner.read", 1), ("audit.event_altered", None)]
    assert events[2]["details"] == {"event_id": landed[0]["event_id"], "change": "rewritten_after_sealing",
                                    "fields": [], "sealed_seq": 1}
    assert altered == [1]
    assert _marker(emulated, tenant_id, landed[0]["event_id"])["sealed_seq"] == {"N": "1"}
    assert _verifies(events, tenant_id)


def test_a_sealed_marker_given_its_event_back_by_an_update_is_not_chained_again(emulated: Emulated) -> None:
    """An update that keeps ``sealed_seq``: not chained even by a reader that seals before the stream runs."""
    tenant_id = new_id("tnt")
    store = _store(emulated)
    landed = store.commit(tenant_id, "UK", _draft(1))
    store.seal(tenant_id, "UK")
    emulated.clients.dynamodb("eu-west-2").update_item(
        TableName=TABLE, Key=marker_key(tenant_id, landed["event_id"], "PND#"),
        UpdateExpression="SET pending = :p", ExpressionAttributeValues={":p": {"S": json.dumps(landed)}})
    assert store.seal(tenant_id, "UK") == 0
    altered: list[int] = []
    for _ in range(2):  # the second time, the stream also holds what the first delivery wrote
        Sequencer(_store(emulated), on_altered=lambda: altered.append(1)).handle(
            {"Records": _records(emulated, tenant_id)})
    events = list(store.events(tenant_id, "UK"))
    assert [e["action"] for e in events] == ["learner.read", "audit.event_altered"]
    assert events[1]["details"]["sealed_seq"] == 1
    assert altered == [1]


def test_a_sealed_marker_deleted_is_recorded(emulated: Emulated) -> None:
    """Deleting a sealed marker makes room to land the same event id again: the deletion is recorded."""
    tenant_id = new_id("tnt")
    store = _store(emulated)
    landed = store.commit(tenant_id, "UK", _draft(1))
    store.seal(tenant_id, "UK")
    emulated.clients.dynamodb("eu-west-2").delete_item(
        TableName=TABLE, Key=marker_key(tenant_id, landed["event_id"], "PND#"))
    Sequencer(_store(emulated), on_altered=lambda: None).handle({"Records": _records(emulated, tenant_id)})
    events = list(store.events(tenant_id, "UK"))
    assert [e["action"] for e in events] == ["learner.read", "audit.event_altered"]
    assert events[1]["details"] == {"event_id": landed["event_id"], "change": "removed_after_sealing",
                                    "fields": [], "sealed_seq": 1}


def test_the_sequencer_looks_markers_up_100_to_a_call(emulated: Emulated) -> None:
    tenant_id = new_id("tnt")
    store = _store(emulated)
    for n in range(150):
        store.commit(tenant_id, "UK", _draft(n))
    records = _records(emulated, tenant_id)
    sequencer = Sequencer(store)
    assert sequencer.handle({"Records": records}) == 150  # sealed by key; the markers are then checked
    with counted(emulated) as calls:
        assert sequencer.handle({"Records": records}) == 0
    # 150 landed event ids, 100 + 50 a look-up: once to seal what is pending, once to check every one sealed
    assert calls.names.count("BatchGetItem") == 4
    assert "GetItem" not in calls.names
    assert "Query" not in calls.names, "the stream's batch names its events: no scan of the pending window"


class _Unprocessing:
    """A DynamoDB client whose BatchGetItem answers only the first key of each call and hands the rest back
    as unprocessed, as DynamoDB does under throttling; or fails with ``error``."""

    def __init__(self, client: Any, error: str = "") -> None:
        self._client = client
        self._error = error
        self.calls = 0

    def batch_get_item(self, RequestItems: dict[str, Any]) -> Any:
        self.calls += 1
        if self._error:
            raise ClientError({"Error": {"Code": self._error, "Message": "slow down"}}, "BatchGetItem")
        [(table, request)] = RequestItems.items()
        first, rest = request["Keys"][:1], request["Keys"][1:]
        page = self._client.batch_get_item(RequestItems={table: {**request, "Keys": first}})
        page["UnprocessedKeys"] = {table: {**request, "Keys": rest}} if rest else {}
        return page

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_unprocessed_marker_keys_are_asked_again_after_a_backoff(emulated: Emulated) -> None:
    tenant_id = new_id("tnt")
    landed = [_store(emulated).commit(tenant_id, "UK", _draft(n)) for n in range(3)]
    client, waits = _Unprocessing(emulated.clients.dynamodb("eu-west-2")), []
    store = AuditStore(client, lambda code: f"enclave-audit-{code.lower()}", "eu-west-2",
                       lambda: datetime.now(UTC), backoff=waits.append)
    ids = [e["event_id"] for e in landed]
    assert store.markers.unsealed(tenant_id, "UK", [*ids, "19990101T000000000000-000000000000-gone"]) == dict.fromkeys(
        ids, True)
    assert client.calls == 4
    assert waits == [1, 2, 3]


def test_a_throttled_marker_lookup_is_a_429(emulated: Emulated) -> None:
    client = _Unprocessing(emulated.clients.dynamodb("eu-west-2"), error="ProvisionedThroughputExceededException")
    store = AuditStore(client, lambda code: f"enclave-audit-{code.lower()}", "eu-west-2", lambda: datetime.now(UTC))
    with pytest.raises(Throttled):
        store.markers.unsealed(new_id("tnt"), "UK", ["20260101T000000000000-000000000000-ab"])


def test_a_few_pending_events_among_many_sealed_markers_take_one_query_a_partition(emulated: Emulated) -> None:
    """The scan's ``Limit`` counts markers before the filter: pages of sealed markers must not cost a
    round trip per few dozen (a page of 25 made ~20 queries on the audit routes of the call bench); one
    Query per marker partition of the tenant."""
    tenant_id = new_id("tnt")
    store = _store(emulated)
    for n in range(300):
        store.commit(tenant_id, "UK", _draft(n))
    assert store.seal(tenant_id, "UK") == 300
    store.commit(tenant_id, "UK", _draft(300))
    store.commit(tenant_id, "UK", _draft(301))
    counting = _Counting(emulated.clients.dynamodb("eu-west-2"))
    assert _store(emulated, counting).seal(tenant_id, "UK") == 2
    assert len(counting.pending_scans) == MARKER_SHARDS
    assert max(counting.pending_scans) <= SCAN_PAGE
    assert counting.transactions == 1


def test_a_backlog_is_sealed_in_landing_order_25_a_transaction_in_one_pass(emulated: Emulated) -> None:
    tenant_id = new_id("tnt")
    store = _store(emulated)
    for n in range(60):
        store.commit(tenant_id, "UK", _draft(n))
    counting = _Counting(emulated.clients.dynamodb("eu-west-2"))
    assert _store(emulated, counting).seal(tenant_id, "UK") == 60
    assert counting.transactions == 3  # 25 + 25 + 10
    assert len(counting.pending_scans) == MARKER_SHARDS  # one pass: one Query a marker partition
    events = list(store.events(tenant_id, "UK"))
    assert [(e["seq"], e["details"]["n"]) for e in events] == [(n + 1, n) for n in range(60)]
    assert _verifies(events, tenant_id)


def test_a_sealed_range_is_read_without_scanning_again(emulated: Emulated) -> None:
    """``seq_range`` seals to find the range; reading that range (already chained) needs no second scan."""
    tenant_id = new_id("tnt")
    counting = _Counting(emulated.clients.dynamodb("eu-west-2"))
    store = _store(emulated, counting)
    for n in range(3):
        store.commit(tenant_id, "UK", _draft(n))
    start, end = (format_at(datetime.now(UTC) + timedelta(hours=hours)) for hours in (-1, 1))
    seqs = store.seq_range(tenant_id, "UK", start, end)
    assert seqs == (1, 3)
    assert [e["seq"] for e in store.events(tenant_id, "UK", *seqs)] == [1, 2, 3]
    assert len(counting.pending_scans) == MARKER_SHARDS
    store.commit(tenant_id, "UK", _draft(3))
    assert [e["seq"] for e in store.events(tenant_id, "UK")] == [1, 2, 3, 4]  # open-ended: sealed first


def test_a_faked_seal_is_detected_and_the_event_named(emulated: Emulated) -> None:
    """An update shaped like the sealer's (REMOVE pending, SET sealed_seq) drops the event unchained."""
    tenant_id = new_id("tnt")
    store = _store(emulated)
    landed = [store.commit(tenant_id, "UK", _draft(n)) for n in range(2)]
    emulated.clients.dynamodb("eu-west-2").update_item(
        TableName=TABLE, Key=marker_key(tenant_id, landed[0]["event_id"], "PND#"),
        UpdateExpression="REMOVE pending SET sealed_seq = :seq", ExpressionAttributeValues={":seq": {"N": "1"}})
    altered: list[int] = []
    sequencer = Sequencer(_store(emulated), on_altered=lambda: altered.append(1))
    records = _records(emulated, tenant_id)
    sequencer.handle({"Records": records})
    sequencer.handle({"Records": records})
    events = list(store.events(tenant_id, "UK"))
    assert [(e["action"], e["details"].get("n")) for e in events] == [
        ("learner.read", 1), ("audit.event_altered", None)]
    finding = events[1]["details"]
    assert (finding["event_id"], finding["change"], finding["sealed_seq"]) == (
        landed[0]["event_id"], "sealed_not_chained", 1)
    assert {"details", "request_id", "resource"} <= set(finding["fields"])  # seq 1 holds another event
    assert altered == [1]
    Sequencer(_store(emulated), on_altered=lambda: altered.append(1)).handle(
        {"Records": _records(emulated, tenant_id)})  # the whole stream so far, the sequencer's own seals too
    assert altered == [1]
    assert _verifies(list(store.events(tenant_id, "UK")), tenant_id)


def test_a_different_event_put_over_a_sealed_marker_is_recorded_once(emulated: Emulated) -> None:
    """The marker the sequencer restores shows the event put over it, not the one chained: no second finding."""
    tenant_id = new_id("tnt")
    store = _store(emulated)
    landed = store.commit(tenant_id, "UK", _draft(1))
    store.seal(tenant_id, "UK")
    _rewrite(emulated, {**_marker(emulated, tenant_id, landed["event_id"]),
                        "pending": {"S": json.dumps(landed)}}, outcome="denied")
    altered: list[int] = []
    for _ in range(2):  # the second time, the stream also holds the restoring update and the finding
        Sequencer(_store(emulated), on_altered=lambda: altered.append(1)).handle(
            {"Records": _records(emulated, tenant_id)})
    events = list(store.events(tenant_id, "UK"))
    assert [e["action"] for e in events] == ["learner.read", "audit.event_altered"]
    assert events[1]["details"]["change"] == "rewritten_after_sealing"
    assert events[1]["details"]["fields"] == ["outcome"]
    assert altered == [1]


def test_a_faked_seal_arriving_alone_is_detected(emulated: Emulated) -> None:
    """A batch of nothing but seal-shaped updates (a quiet tenant) is checked too."""
    tenant_id = new_id("tnt")
    store = _store(emulated)
    for n in range(2):
        store.commit(tenant_id, "UK", _draft(n))
    store.seal(tenant_id, "UK")
    dropped = store.commit(tenant_id, "UK", _draft(2))
    emulated.clients.dynamodb("eu-west-2").update_item(
        TableName=TABLE, Key=marker_key(tenant_id, dropped["event_id"], "PND#"),
        UpdateExpression="REMOVE pending SET sealed_seq = :seq", ExpressionAttributeValues={":seq": {"N": "2"}})
    fake = _records(emulated, tenant_id)[-1]
    assert fake["eventName"] == "MODIFY"
    altered: list[int] = []
    Sequencer(_store(emulated), on_altered=lambda: altered.append(1)).handle({"Records": [fake]})
    events = list(store.events(tenant_id, "UK"))
    assert [e["action"] for e in events] == ["learner.read", "learner.read", "audit.event_altered"]
    assert events[2]["details"]["event_id"] == dropped["event_id"]
    assert events[2]["details"]["change"] == "sealed_not_chained"
    assert altered == [1]
