"""The summaries the seal transaction keeps: events per hour equal the events sealed, exactly once."""
from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.adapters.audit_action_index import block_of
from chalicelib.adapters.audit_store import AuditStore
from chalicelib.adapters.audit_summaries import AuditSummaries
from chalicelib.domain.audit import AuditEventDraft
from chalicelib.domain.audit.layout import tenant_of_pk
from chalicelib.domain.audit.summaries import within_days
from chalicelib.domain.ids import new_id
from chalicelib.services.audit.sequencer import Sequencer
from tests.integration.audit_streams import poller
from tests.integration.conftest import Emulated, RegionalApi, TokenFactory


def _table(code: str) -> str:
    return f"enclave-audit-{code.lower()}"


class _Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def _store(emulated: Emulated, clock: _Clock) -> AuditStore:
    return AuditStore(emulated.clients.dynamodb("eu-west-2"), _table, "eu-west-2", clock, landing_clock=clock)


def _summaries(emulated: Emulated) -> AuditSummaries:
    return AuditSummaries(emulated.clients.dynamodb("eu-west-2"), _table)


def _draft(n: int, action: str = "learner.read", **details: Any) -> AuditEventDraft:
    return AuditEventDraft(actor_sub="officer", actor_role="compliance_officer", action=action,
                           resource=f"learners/{n}", outcome="success", request_id=f"r-{n}",
                           details={"n": n, **details})


def _days(events: list[dict[str, Any]]) -> list[str]:
    return sorted({e["at"][:10] for e in events})


def _records(emulated: Emulated, tenant_id: str) -> list[Mapping[str, Any]]:
    batches: list[Mapping[str, Any]] = []
    poller(emulated, batches.append).poll_once()
    return [record for batch in batches for record in batch["Records"]
            if tenant_of_pk(record["dynamodb"]["Keys"]["pk"]["S"]) == tenant_id]


def test_hour_counts_equal_the_events_sealed_with_the_clock_moved_across_hours(emulated: Emulated) -> None:
    tenant_id = new_id("tnt")
    clock = _Clock(datetime(2026, 6, 1, 21, 40, tzinfo=UTC))
    store = _store(emulated, clock)
    for n in range(90):  # seven minutes apart: ten hours and a midnight, sealed every few events
        store.commit(tenant_id, "UK", _draft(n))
        if n % 7 == 0:
            store.seal(tenant_id, "UK")
        clock.at += timedelta(minutes=7)
    events = list(store.events(tenant_id, "UK"))
    assert len(events) == 90
    expected = Counter(e["at"][:13] for e in events)
    assert len(expected) > 10
    assert _summaries(emulated).hours(tenant_id, "UK", _days(events)) == expected
    assert _summaries(emulated).head(tenant_id, "UK").summaries_from == 1


def test_a_batch_delivered_twice_is_counted_once(emulated: Emulated) -> None:
    tenant_id = new_id("tnt")
    clock = _Clock(datetime(2026, 6, 2, 9, 50, tzinfo=UTC))
    store = _store(emulated, clock)
    for n in range(40):
        store.commit(tenant_id, "UK", _draft(n))
        clock.at += timedelta(seconds=30)
    records = _records(emulated, tenant_id)
    sealed = [Sequencer(_store(emulated, clock)).handle({"Records": records}) for _ in range(2)]
    assert sealed == [40, 0]  # the second delivery finds nothing pending: its seal commits nothing
    assert Sequencer(_store(emulated, clock)).handle({"Records": records}) == 0  # another container
    events = list(store.events(tenant_id, "UK"))
    assert _summaries(emulated).hours(tenant_id, "UK", _days(events)) == Counter(e["at"][:13] for e in events)
    assert sum(_summaries(emulated).hours(tenant_id, "UK", _days(events)).values()) == 40


def test_events_of_three_days_pending_at_once_are_sealed_and_counted(emulated: Emulated) -> None:
    tenant_id = new_id("tnt")
    clock = _Clock(datetime(2026, 6, 3, 23, 0, tzinfo=UTC))
    store = _store(emulated, clock)
    for n in range(30):  # a backlog over three days: a seal transaction holds the counts of two at most
        store.commit(tenant_id, "UK", _draft(n))
        clock.at += timedelta(hours=13) if n % 10 == 9 else timedelta(seconds=1)
    assert store.seal(tenant_id, "UK") == 30
    events = list(store.events(tenant_id, "UK"))
    assert len(_days(events)) == 3
    assert _summaries(emulated).hours(tenant_id, "UK", _days(events)) == Counter(e["at"][:13] for e in events)


def test_the_head_points_at_the_newest_verification_and_export(emulated: Emulated) -> None:
    tenant_id = new_id("tnt")
    clock = _Clock(datetime(2026, 6, 4, 8, 0, tzinfo=UTC))
    store = _store(emulated, clock)
    store.commit(tenant_id, "UK", _draft(1, "audit.verify", valid=True, events=1))
    store.commit(tenant_id, "UK", _draft(2, "audit.read", format="ndjson", events=2))
    store.commit(tenant_id, "UK", _draft(3, "audit.read", format="json", events=2))  # a page: not a download
    store.commit(tenant_id, "UK", _draft(4, "audit.verify", valid=False, events=3))
    store.seal(tenant_id, "UK")
    head = _summaries(emulated).head(tenant_id, "UK")
    assert head.entries["verification"] == {"at": "2026-06-04T08:00:00.000000Z", "seq": 4, "valid": False, "events": 3,
                                            "by_role": "compliance_officer"}
    assert (head.entries["export"]["seq"], head.entries["export"]["kind"]) == (2, "download")
    store.commit(tenant_id, "UK", _draft(5))
    store.seal(tenant_id, "UK")  # a later batch without either kind keeps the pointers
    assert _summaries(emulated).head(tenant_id, "UK").entries == head.entries


def test_a_seal_batch_keeps_to_two_days() -> None:
    batch = [{"at": at} for at in ("2026-06-01T23:59:00Z", "2026-06-02T00:00:01Z", "2026-06-02T10:00:00Z",
                                   "2026-06-03T00:00:00Z")]
    assert within_days(batch) == 3
    assert within_days(batch[:3]) == 3
    assert within_days(batch, days=1) == 1


def test_the_action_filter_reads_the_blocks_the_index_lists_and_finds_what_a_whole_scan_finds(
        api: dict[str, RegionalApi], token: TokenFactory, onboard: Any) -> None:
    eu = api["eu-west-2"]
    tenant_id = onboard("UK")["tenant_id"]
    store = eu.container.audit_store
    for n in range(400):  # seven blocks of the chain; the rare action in two of them
        store.commit(tenant_id, "UK", _draft(n, "audit.prove" if n in (5, 6, 330) else "learner.list"))
        if n % 50 == 0:
            store.seal(tenant_id, "UK")
    events = list(store.events(tenant_id, "UK"))
    rare = [e["seq"] for e in events if e["action"] == "audit.prove"]
    listed = list(store.actions.blocks(store.table("UK"), tenant_id, "audit.prove", 0))
    assert listed == sorted({block_of(seq) for seq in rare})
    officer = token("compliance_officer", region="eu-west-2")
    path = f"/v1/tenants/{tenant_id}/audit/events?action=audit.prove&limit=2"
    status, first = eu.call("GET", path, officer)
    assert status == 200, first
    status, second = eu.call("GET", f"{path}&cursor={first['next_cursor']}", officer)
    assert status == 200, second
    assert [e["seq"] for e in first["items"] + second["items"]] == rare
    assert second["next_cursor"] is None


def test_a_trail_sealed_before_the_index_is_filtered_by_reading_it(
        api: dict[str, RegionalApi], token: TokenFactory, onboard: Any) -> None:
    eu = api["eu-west-2"]
    tenant_id = onboard("UK")["tenant_id"]
    store = eu.container.audit_store
    for n in range(150):
        store.commit(tenant_id, "UK", _draft(n, "audit.prove" if n == 3 else "learner.list"))
    store.seal(tenant_id, "UK")
    dynamodb = eu.container.clients.dynamodb("eu-west-2")
    head = {"pk": {"S": f"TENANT#{tenant_id}"}, "sk": {"S": "HEAD"}}
    dynamodb.update_item(TableName="enclave-audit-uk", Key=head, UpdateExpression="SET summaries_from = :late",
                         ExpressionAttributeValues={":late": {"N": "100"}})
    for key in [{"pk": item["pk"], "sk": item["sk"]} for shard in range(4) for item in dynamodb.query(
            TableName="enclave-audit-uk", KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"TENANT#{tenant_id}#X{shard}"}})["Items"]]:
        dynamodb.delete_item(TableName="enclave-audit-uk", Key=key)  # sealed before the index (from seq 100)
    store.commit(tenant_id, "UK", _draft(150, "audit.prove"))
    officer = token("compliance_officer", region="eu-west-2")
    status, found = eu.call("GET", f"/v1/tenants/{tenant_id}/audit/events?action=audit.prove", officer)
    assert status == 200, found
    assert [e["details"]["n"] for e in found["items"]] == [3, 150]
