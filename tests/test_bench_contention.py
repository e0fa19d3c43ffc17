"""The contention benchmark's DynamoDB model behaves like the emulator for every call the audit stores make,
and the benchmark runs (rows, gap-free chains). Never a timing."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from bench import bench_contention
from bench.dynamo_contention import ContendedClient, Contention
from bench.dynamo_model import ModelTable
from bench.f3_audit_store import F3AuditStore
from chalicelib.adapters.audit_store import AuditStore, ChangeRejected
from chalicelib.domain.audit import AuditEventDraft
from tests.conftest import Emulated

REGION = "eu-west-2"


class _Ticking:
    """A clock one microsecond further at each call: the same script lands the same events in the same order."""

    def __init__(self) -> None:
        self.at = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.at += timedelta(microseconds=1)
        return self.at


def _draft(n: int) -> AuditEventDraft:
    return AuditEventDraft(actor_sub="s", actor_role="tenant_staff", action="learner.read", resource=f"learners/{n}",
                           outcome="success", request_id=f"r{n}", details={"n": n})


def _script(client: Any) -> list[Any]:
    """F3 appends, F7 landings (reads and writes), a refused change, sealing: what each step returned."""
    table_for = bench_contention._table_for
    seen: list[Any] = []
    old = F3AuditStore(client, table_for, REGION, _Ticking())
    for n in range(3):
        seen.append(old.commit("tnt_f3", "UK", _draft(n))["hash"])
    new = AuditStore(client, table_for, REGION, _Ticking())
    put = {"Put": {"TableName": "enclave-data-uk", "ConditionExpression": "attribute_not_exists(pk)",
                   "Item": {"pk": {"S": "TENANT#tnt_f7"}, "sk": {"S": "M#1"}}}}
    for n in range(30):
        new.commit("tnt_f7", "UK", _draft(n), [put] if n == 4 else [])
    try:
        new.commit("tnt_f7", "UK", _draft(99), [put])
    except ChangeRejected as exc:
        seen.append(("rejected", exc.code))
    seen.append(new.seal("tnt_f7", "UK"))
    seen.append(new.seal("tnt_f7", "UK"))
    seen.append([e["hash"] for e in AuditStore(client, table_for, REGION, _Ticking()).events("tnt_f7", "UK")])
    seen.append(new.head("tnt_f7", "UK"))
    try:
        client.put_item(TableName="enclave-audit-uk", Item={"pk": {"S": "TENANT#tnt_f7"}, "sk": {"S": "HEAD"}},
                        ConditionExpression="attribute_not_exists(pk)")
    except ClientError as exc:
        seen.append(exc.response["Error"]["Code"])
    return seen


def test_the_model_gives_what_the_emulator_gives_for_the_audit_stores_calls(emulated: Emulated) -> None:
    on_emulator = _script(emulated.clients.dynamodb(REGION))
    on_model = _script(ModelTable())
    assert on_model == on_emulator
    assert on_model[3] == ("rejected", "ConditionalCheckFailed")
    assert on_model[4:6] == [31 - 1, 0]  # every landed event sealed once, then nothing left


def test_the_model_refuses_what_it_does_not_model() -> None:
    with pytest.raises(NotImplementedError):
        ModelTable().query(TableName="t", KeyConditionExpression="pk = :p AND sk > :s",
                           ExpressionAttributeValues={":p": {"S": "a"}, ":s": {"S": "b"}})


def test_concurrent_transactions_on_one_item_are_rejected_not_queued() -> None:
    contention = Contention(latency=0)
    item = ("t", "TENANT#a", "HEAD")
    assert contention.hold([item]) == [False]
    client = ContendedClient(ModelTable(), contention)
    with pytest.raises(ClientError) as raised:
        client.transact_write_items(TransactItems=[{"Put": {"TableName": "t", "Item": {
            "pk": {"S": "TENANT#b"}, "sk": {"S": "X"}}}}, {"Put": {"TableName": "t", "Item": {
                "pk": {"S": "TENANT#a"}, "sk": {"S": "HEAD"}}}}])
    assert raised.value.response["CancellationReasons"] == [{"Code": "None"}, {"Code": "TransactionConflict"}]  # type: ignore[typeddict-item]
    contention.release([item])
    client.transact_write_items(TransactItems=[{"Put": {"TableName": "t", "Item": {
        "pk": {"S": "TENANT#a"}, "sk": {"S": "HEAD"}}}}])


def test_the_benchmark_runs_both_designs_into_gap_free_chains() -> None:
    rows = bench_contention.run(seconds=0.2, levels=(1, 8))
    assert [(r["design"], r["clients"]) for r in rows] == [("f3", 1), ("f7", 1), ("f3", 8), ("f7", 8)]
    assert all(r["chain_gap_free"] for r in rows)
    assert all(int(str(r["answered"])) > 0 for r in rows)
    assert {"requests_per_s", "p50_ms", "p99_ms", "errors", "rejected_transactions"} <= rows[0].keys()
    assert "f7" in bench_contention.verdict(rows)[1]
