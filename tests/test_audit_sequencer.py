"""The request path lands events without a per-tenant head; the stream handler and seal-now chain them."""
from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime
from typing import Any

from chalicelib.domain.audit import GENESIS_HASH, AuditEventDraft
from chalicelib.domain.ids import new_id
from chalicelib.services.audit_sequencer import Sequencer
from tests.audit_streams import audit_store, sequence
from tests.conftest import Emulated

TABLE = "enclave-audit-uk"


def _draft(n: int) -> AuditEventDraft:
    return AuditEventDraft(actor_sub="staff", actor_role="tenant_staff", action="learner.read",
                           resource=f"learners/{n}", outcome="success", request_id=f"r-{n}", details={"n": n})


def _items(emulated: Emulated, tenant_id: str, prefix: str) -> list[dict[str, Any]]:
    page = emulated.clients.dynamodb("eu-west-2").query(
        TableName=TABLE, ConsistentRead=True, KeyConditionExpression="pk = :p AND begins_with(sk, :s)",
        ExpressionAttributeValues={":p": {"S": f"TENANT#{tenant_id}"}, ":s": {"S": prefix}})
    return list(page["Items"])


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
