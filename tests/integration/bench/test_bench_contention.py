"""The contention benchmark's DynamoDB model behaves like the emulator for every call the audit stores make,
and the benchmark runs (rows, gap-free chains). Never a timing."""
from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from bench import bench_contention, contention_processes
from bench.dynamo_contention import ContendedClient, Contention
from bench.dynamo_model import ModelTable
from bench.head_per_request_store import HeadPerRequestStore
from chalicelib.adapters.audit_store import AuditStore, ChangeRejected
from chalicelib.domain.audit import AuditEventDraft
from tests.integration.conftest import Emulated

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
    """Head-per-request appends, sequenced landings, a refused change, sealing: what each step returned."""
    table_for = bench_contention._table_for
    seen: list[Any] = []
    old = HeadPerRequestStore(client, table_for, REGION, _Ticking())
    for n in range(3):
        seen.append(old.commit("tnt_head", "UK", _draft(n))["hash"])
    new = AuditStore(client, table_for, REGION, _Ticking())
    put = {"Put": {"TableName": "enclave-data-uk", "ConditionExpression": "attribute_not_exists(pk)",
                   "Item": {"pk": {"S": "TENANT#tnt_seq"}, "sk": {"S": "M#1"}}}}
    for n in range(30):
        new.commit("tnt_seq", "UK", _draft(n), [put] if n == 4 else [])
    try:
        new.commit("tnt_seq", "UK", _draft(99), [put])
    except ChangeRejected as exc:
        seen.append(("rejected", exc.code))
    seen.append(new.seal("tnt_seq", "UK"))
    seen.append(new.seal("tnt_seq", "UK"))
    seen.append([e["hash"] for e in AuditStore(client, table_for, REGION, _Ticking()).events("tnt_seq", "UK")])
    seen.append(new.head("tnt_seq", "UK"))
    try:
        client.put_item(TableName="enclave-audit-uk", Item={"pk": {"S": "TENANT#tnt_seq"}, "sk": {"S": "HEAD"}},
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


def test_the_benchmark_runs_both_designs_closed_loop_and_paced_into_gap_free_chains() -> None:
    closed = bench_contention.run(seconds=0.2, levels=(1, 8))
    paced = bench_contention.run(seconds=0.2, levels=(1, 8), interval=0.05)
    assert [(r["design"], r["clients"]) for r in closed] == [(d, n) for n in (1, 8) for d in ("head", "sequenced")]
    assert all(r["chain_gap_free"] for r in closed + paced)
    assert all(int(str(r["answered"])) > 0 for r in closed + paced)
    assert {"requests_per_s", "p50_ms", "p99_ms", "own_p99_ms", "errors", "rejected_transactions"} <= closed[0].keys()
    assert [r["offered_per_s"] for r in paced] == [20, 20, 160, 160]
    assert "paced at 160 requests/s" in bench_contention.verdict(closed, paced)[1]


def test_the_containers_run_in_generator_processes_that_report_their_cpu() -> None:
    """The model in a process of its own, the containers in ``generator_count()`` others (never this one): each
    row says how many and how busy they and the model were; a conflict is still decided across generators."""
    rows = bench_contention.run(seconds=0.3, levels=(8,))
    for row in rows:
        assert row["generators"] == min(8, contention_processes.generator_count())
        assert 0 < float(str(row["generator_cpu_cores"])) <= float(str(row["generators"]))
        assert 0 < float(str(row["busiest_generator_core"])) <= 1.05
        assert float(str(row["model_cpu_cores"])) > 0
        assert row["errors"] == 0
        assert row["chain_gap_free"]
    head = next(row for row in rows if row["design"] == "head")
    assert int(str(head["rejected_transactions"])) > 0  # 8 containers on one head item: conflicts, as in process
    assert "generator process(es) at" in bench_contention.verdict(rows + [
        {**row, "clients": 128} for row in rows])[1]


def test_the_in_process_driver_is_kept() -> None:
    rows = bench_contention.run(seconds=0.2, levels=(1,), backend="model_in_process")
    assert [r["design"] for r in rows] == ["head", "sequenced"]
    assert all(r["chain_gap_free"] and "harness_cpu_cores" in r for r in rows)


def test_a_containers_own_time_counts_its_modelled_waits_and_not_another_threads() -> None:
    slept: list[float] = []
    contention = Contention(latency=0.010, sleep=slept.append)
    seen: dict[str, float] = {}

    def other() -> None:
        contention.wait(5.0)
        seen["other"] = contention.waited()

    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    client = ContendedClient(ModelTable(), contention)
    client.get_item(TableName="t", Key={"pk": {"S": "a"}})
    contention.wait(0.002)  # a backoff
    assert contention.waited() == pytest.approx(0.012)
    assert seen["other"] == 5.0
    assert sorted(slept) == [0.002, 0.010, 5.0]


def test_the_verdict_needs_the_paced_wall_clock_p99_flat_too() -> None:
    def row(design: str, clients: int, p99: float, rate: float, **extra: object) -> dict[str, object]:
        return {"design": design, "clients": clients, "requests_per_s": rate, "p99_ms": p99, "own_p99_ms": 20.0,
                "errors": 0, "chain_gap_free": True, "harness_cpu_cores": 1.0, **extra}

    closed = [row("head", 8, 700, 75), row("sequenced", 8, 21, 430),
              row("head", 128, 2000, 90), row("sequenced", 128, 80, 3000)]
    flat = [row("sequenced", 8, 21, 78, offered_per_s=80), row("sequenced", 128, 30, 1240, offered_per_s=1280)]
    steep = [row("sequenced", 8, 21, 78, offered_per_s=80), row("sequenced", 128, 60, 1240, offered_per_s=1280)]
    assert bench_contention.verdict(closed, flat)[0] is True
    assert bench_contention.verdict(closed, steep)[0] is False
