"""Audited requests of ONE tenant under contention: the F3 head-per-request design against F7's (no head).

Both run in this process behind ``dynamo_contention``, over ``bench/dynamo_model.py`` (DynamoDB's
semantics for these calls, checked against the emulator by tests/test_bench_contention.py; the emulator
itself, moto, is measured at 1 and 8 clients as a cross-check, CPU-bound): 10 ms per call and DynamoDB's
transaction-conflict rule (concurrent transactions on one item: all but one cancelled with
``TransactionConflict``). Each of ``clients`` threads is one Lambda container (its own audit store, so
its own head cache and lock) doing a seeded mix on one UK tenant: 80 % audited reads (GetItem of a data
item, then the audit append), 20 % audited writes (a data put and its event in one transaction). A
request that fails (503/429 after the store's retries) is an error.

* ``f3``: ``bench/f3_audit_store.py``, the per-tenant ``HEAD`` updated in every request's transaction.
* ``f7``: ``AuditStore`` as deployed: a read's event is one PutItem, a write one TransactWriteItems, no
  head; a sequencer thread seals the tenant every 50 ms meanwhile (the stream trigger's work, under the
  same latency and conflict rules), and at the end everything is sealed and the chain checked.

Every level ends by checking the tenant's chain: seq 1..N without a gap, each ``prev_hash`` the previous
``hash``, N = the requests answered. Goal (issue #11): at 128 clients f7 >= 10x f3's audited requests/s,
0 errors, f7's p99 at 128 clients within 2x of its p99 at 8.

Run ``python -m bench.bench_contention``.
"""
from __future__ import annotations

import itertools
import random
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from bench.dynamo_contention import ContendedClient, Contention
from bench.f3_audit_store import F3AuditStore
from chalicelib.adapters.audit_store import AuditStore
from chalicelib.domain.audit import AuditEventDraft
from chalicelib.domain.errors import ServiceUnavailable, Throttled
from chalicelib.domain.ids import new_id

REGION = "eu-west-2"
AUDIT_TABLE = "enclave-audit-uk"
DATA_TABLE = "enclave-data-uk"
LEVELS = (1, 8, 32, 128)
READ_SHARE = 0.8
LATENCY = 0.010


class Store(Protocol):
    def commit(self, tenant_id: str, jurisdiction: str, draft: AuditEventDraft,
               changes: Any = ...) -> dict[str, Any]: ...


@dataclass
class Outcome:
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0


def _table_for(jurisdiction: str) -> str:
    return f"enclave-audit-{jurisdiction.lower()}"


def _now() -> datetime:
    return datetime.now(UTC)


def _draft(client: int, n: int, action: str) -> AuditEventDraft:
    return AuditEventDraft(actor_sub=f"learner-{client}", actor_role="tenant_staff", action=action,
                           resource=f"learners/{client}", outcome="success", request_id=f"{client}-{n}",
                           details={})


def _client_loop(store: Store, data: ContendedClient, tenant_id: str, index: int, start: threading.Barrier,
                 deadline: list[float], outcome: Outcome) -> None:
    rng = random.Random(index)
    pk = {"S": f"TENANT#{tenant_id}"}
    start.wait()
    for n in itertools.count():
        if time.monotonic() >= deadline[0]:
            return
        began = time.perf_counter()
        try:
            if rng.random() < READ_SHARE:
                data.get_item(TableName=DATA_TABLE, Key={"pk": pk, "sk": {"S": f"L#{index}"}})
                store.commit(tenant_id, "UK", _draft(index, n, "learner.read"))
            else:
                change = {"Put": {"TableName": DATA_TABLE, "ConditionExpression": "attribute_not_exists(pk)",
                                  "Item": {"pk": pk, "sk": {"S": f"M#{index}#{n:06d}"}}}}
                store.commit(tenant_id, "UK", _draft(index, n, "result.create"), [change])
        except (ServiceUnavailable, Throttled):
            outcome.errors += 1
            continue
        outcome.latencies_ms.append((time.perf_counter() - began) * 1000)


def _sealer(store: AuditStore, tenant_id: str, stop: threading.Event) -> None:
    while not stop.is_set():
        store.seal(tenant_id, "UK")
        stop.wait(0.05)


def _chain_ok(real: Any, tenant_id: str, expected: int) -> bool:
    events = list(AuditStore(real, _table_for, REGION, _now).events(tenant_id, "UK"))
    return ([e["seq"] for e in events] == list(range(1, expected + 1))
            and all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(events)))


def measure(design: str, clients: int, seconds: float, real: Any) -> dict[str, object]:
    """One level: ``clients`` containers for ``seconds`` on a fresh tenant; the row of the report."""
    contention = Contention(LATENCY)
    tenant_id = new_id("tnt")
    make: Callable[[], Store]
    if design == "f3":
        def make() -> Store:
            return F3AuditStore(ContendedClient(real, contention), _table_for, REGION, _now)
    else:
        def make() -> Store:
            return AuditStore(ContendedClient(real, contention), _table_for, REGION, _now)  # type: ignore[arg-type]
    outcomes = [Outcome() for _ in range(clients)]
    start = threading.Barrier(clients + 1)
    deadline = [float("inf")]
    threads = [threading.Thread(target=_client_loop, args=(make(), ContendedClient(real, contention), tenant_id, i,
                                                          start, deadline, outcomes[i])) for i in range(clients)]
    stop = threading.Event()
    sealer = None
    if design == "f7":
        sealing = AuditStore(ContendedClient(real, contention), _table_for, REGION, _now)  # type: ignore[arg-type]
        sealer = threading.Thread(target=_sealer, args=(sealing, tenant_id, stop))
        sealer.start()
    for thread in threads:
        thread.start()
    start.wait()
    began, cpu = time.monotonic(), time.process_time()
    deadline[0] = began + seconds
    for thread in threads:
        thread.join()
    elapsed, cpu = time.monotonic() - began, time.process_time() - cpu
    stop.set()
    if sealer is not None:
        sealer.join()
    latencies = sorted(itertools.chain.from_iterable(o.latencies_ms for o in outcomes))
    answered, errors = len(latencies), sum(o.errors for o in outcomes)
    conflicts = sum(count for name, count in contention.calls.items() if name.endswith(":conflict"))
    return {
        "design": design, "clients": clients, "requests_per_s": round(answered / elapsed, 1),
        "p50_ms": round(statistics.median(latencies), 1) if latencies else "-",
        "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 1) if latencies else "-",
        "errors": errors, "answered": answered, "rejected_transactions": conflicts,
        "harness_cpu_cores": round(cpu / elapsed, 2),
        "chain_gap_free": _chain_ok(real, tenant_id, answered),
    }


def run(seconds: float = 4.0, levels: tuple[int, ...] = LEVELS, backend: str = "model") -> list[dict[str, object]]:
    """Every level for both designs, interleaved (f3 then f7 at each level), on one backend: ``model``
    (``bench/dynamo_model.py``: DynamoDB's semantics at microseconds a call) or ``emulator`` (moto in process,
    whose ~3 ms of CPU per call caps any design near 150 requests/s on two cores)."""
    if backend == "model":
        from bench.dynamo_model import ModelTable

        return [measure(design, clients, seconds, ModelTable()) for clients in levels for design in ("f3", "f7")]
    import moto

    from chalicelib.adapters.aws import AwsClients
    from deploy.tables import AUDIT, DATA, create_table_kwargs
    from devtools import emulator

    emulator.install()
    with moto.mock_aws():
        real = AwsClients().dynamodb(REGION)
        for table in (AUDIT, DATA):
            real.create_table(**create_table_kwargs(table, "UK"))
        return [measure(design, clients, seconds, real) for clients in levels for design in ("f3", "f7")]


def verdict(rows: list[dict[str, object]]) -> tuple[bool, str]:
    """Goal check: f7 >= 10x f3 at the top level, 0 f7 errors, f7 p99 at the top within 2x of 8 clients."""
    by = {(str(r["design"]), int(str(r["clients"]))): r for r in rows}
    top = max(int(str(r["clients"])) for r in rows)
    old, new = by[("f3", top)], by[("f7", top)]
    ratio = float(str(new["requests_per_s"])) / max(float(str(old["requests_per_s"])), 0.1)
    f7_errors = sum(int(str(r["errors"])) for r in rows if r["design"] == "f7")
    base = by.get(("f7", 8))
    p99_ratio = float(str(new["p99_ms"])) / float(str(base["p99_ms"])) if base else float("nan")
    gap_free = all(bool(r["chain_gap_free"]) for r in rows)
    met = ratio >= 10 and f7_errors == 0 and p99_ratio <= 2 and gap_free
    new_rate, old_rate = float(str(new["requests_per_s"])), float(str(old["requests_per_s"]))
    text = (f"at {top} clients f7 {new_rate:.0f} vs f3 {old_rate:.0f} "
            f"audited requests/s ({ratio:.1f}x, goal >= 10x); f7 errors {f7_errors}, f3 errors at {top}: "
            f"{old['errors']}; f7 p99 at {top} clients {p99_ratio:.1f}x its p99 at 8 (goal <= 2x); "
            f"every chain gap-free: {gap_free}")
    return met, text


def main() -> None:
    from bench.common import markdown_table

    rows = run()
    print(markdown_table(rows))
    print(verdict(rows)[1])


if __name__ == "__main__":
    main()
