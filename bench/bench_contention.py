"""Audited requests of ONE tenant under contention: the head-per-request design against the sequenced one (no head).

Both run behind ``dynamo_contention``, over ``bench/dynamo_model.py`` (DynamoDB's semantics for these
calls, checked against the emulator by tests/integration/bench/test_bench_contention.py), the model in a process of
its own and the containers in generator processes (``bench/contention_processes.py``: one per core beyond the
model's, each reporting its CPU, so a reader sees whether the generators had headroom); ``backend="model_in_process"``
keeps everything in this process as before; the emulator itself, moto, is measured in process at 1 and 8
clients as a cross-check, CPU-bound: 10 ms per call and DynamoDB's
transaction-conflict rule (concurrent transactions on one item: all but one cancelled with
``TransactionConflict``). Each of ``clients`` threads is one Lambda container (its own audit store, so
its own head cache and lock) doing a seeded mix on one UK tenant: 80 % audited reads (GetItem of a data
item, then the audit append), 20 % audited writes (a data put and its event in one transaction). A
request that fails (503/429 after the store's retries) is an error.

* ``head``: ``bench/head_per_request_store.py``, the per-tenant ``HEAD`` updated in every request's transaction.
* ``sequenced``: ``AuditStore`` as deployed: a read's event is one PutItem, a write one TransactWriteItems, no
  head; a sequencer thread seals the tenant every 50 ms meanwhile (the stream trigger's work, under the
  same latency and conflict rules), and at the end everything is sealed and the chain checked.

Two ways of loading the tenant, both designs, 1/8/32/128 clients each:

* closed loop: each client sends its next request as soon as one is answered (the most one tenant can get
  through; the ``>= 10x`` goal is read here);
* paced: each client sends one request every ``PACED_INTERVAL`` at a random phase, latency counted from the
  scheduled start (a late request delays the next and that counts), so the wall clock measures the design at
  a load the generators can carry: 128 clients offer 1,280 requests/s, 14x what head answers at best.

Latency is reported twice. ``p50_ms``/``p99_ms`` are wall-clock. ``own_p50_ms``/``own_p99_ms`` are each
container's own time: its modelled round trips, conflict refusals and backoffs (``Contention.wait``) plus its
thread's CPU. In AWS every concurrent request has a container and CPU of its own; here the containers share
the generators' interpreters (on a two-core machine: one generator beside the model), so in the closed loop at
128 clients a request may queue for an interpreter: the generators' CPU columns say when (a generator near
1.0 of its core is saturated), and the own time measures the design either way. Python's cyclic garbage
collector is paused for the measured seconds in every process (see ``_collector_paused``).

Every level ends by checking the tenant's chain: seq 1..N without a gap, each ``prev_hash`` the previous
``hash``, N = the requests answered. Goal: at 128 clients sequenced >= 10x head's audited requests/s,
0 errors, sequenced's p99 at 128 clients within 2x of its p99 at 8: in the containers' own time (closed loop) and
on the wall clock (paced).

Run ``python -m bench.bench_contention``.
"""
from __future__ import annotations

import gc
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from bench.contention_clients import (
    LATENCY,
    REGION,
    Client,
    Outcome,
    Store,
    _chain_ok,
    _client_loop,
    _now,
    _sealer,
    _table_for,
)
from bench.dynamo_contention import ContendedClient, Contention
from bench.head_per_request_store import HeadPerRequestStore
from chalicelib.adapters.audit_store import AuditStore, backoff_delay
from chalicelib.domain.ids import new_id

LEVELS = (1, 8, 32, 128)
DESIGNS = ("head", "sequenced")  # head: bench/head_per_request_store.py; sequenced: the deployed AuditStore
PACED_INTERVAL = 0.100  # a paced client asks every 100 ms: 128 of them offer 1,280 requests/s


def _percentile(values: list[float], share: float) -> float | str:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * share))], 1) if ordered else "-"


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the measured seconds (both designs alike).

    This one process holds what AWS spreads out: the model of DynamoDB's data and 128 containers' state. A
    full collection of that heap stops every thread for ~30 ms at 128 clients, a pause of the harness that
    no container (with its own small heap) sees; reference counting still frees everything as it goes."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _store_maker(design: str, real: Any, contention: Contention) -> Callable[[], Store]:
    def backoff(attempt: int) -> None:
        contention.wait(backoff_delay(attempt))

    def make() -> Store:
        client = ContendedClient(real, contention)
        if design == "head":
            return HeadPerRequestStore(client, _table_for, REGION, _now, backoff=backoff)
        return AuditStore(client, _table_for, REGION, _now, backoff=backoff)  # type: ignore[arg-type]
    return make


def measure(design: str, clients: int, seconds: float, real: Any,
            interval: float | None = None) -> dict[str, object]:
    """One level: ``clients`` containers for ``seconds`` on a fresh tenant, closed loop or paced (``interval``);
    the row of the report."""
    contention = Contention(LATENCY)
    tenant_id = new_id("tnt")
    make = _store_maker(design, real, contention)
    outcomes = [Outcome() for _ in range(clients)]
    start = threading.Barrier(clients + 1)
    deadline = [float("inf")]
    threads = [threading.Thread(target=_client_loop, args=(
        Client(make(), ContendedClient(real, contention), contention, i, interval), tenant_id, start, deadline,
        outcomes[i])) for i in range(clients)]
    stop = threading.Event()
    sealer = None
    if design == "sequenced":
        sealing = AuditStore(ContendedClient(real, contention), _table_for, REGION, _now)  # type: ignore[arg-type]
        sealer = threading.Thread(target=_sealer, args=(sealing, tenant_id, stop))
        sealer.start()
    with _collector_paused():
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
    latencies = list(itertools.chain.from_iterable(o.latencies_ms for o in outcomes))
    own = list(itertools.chain.from_iterable(o.own_ms for o in outcomes))
    answered, errors = len(latencies), sum(o.errors for o in outcomes)
    conflicts = sum(count for name, count in contention.calls.items() if name.endswith(":conflict"))
    row: dict[str, object] = {"design": design, "clients": clients}
    if interval:
        row["offered_per_s"] = round(clients / interval)
    row.update({
        "requests_per_s": round(answered / elapsed, 1),
        "p50_ms": _percentile(latencies, 0.5), "p99_ms": _percentile(latencies, 0.99),
        "own_p50_ms": _percentile(own, 0.5), "own_p99_ms": _percentile(own, 0.99),
        "errors": errors, "answered": answered, "rejected_transactions": conflicts,
        "harness_cpu_cores": round(cpu / elapsed, 2),
        "chain_gap_free": _chain_ok(real, tenant_id, answered),
    })
    return row


def measure_processes(design: str, clients: int, seconds: float,
                      interval: float | None = None) -> dict[str, object]:
    """One level as ``measure`` does, with the model in a process of its own and the containers in generator
    processes (``bench/contention_processes.py``); the row adds the generators' CPU (all of them, in cores, and
    the busiest one's share of its core) and the model process's."""
    from bench import contention_processes

    tenant_id = new_id("tnt")
    got = contention_processes.measure(design, clients, seconds, tenant_id, LATENCY, interval)
    latencies, own = got["latencies_ms"], got["own_ms"]
    row: dict[str, object] = {"design": design, "clients": clients}
    if interval:
        row["offered_per_s"] = round(clients / interval)
    row.update({
        "requests_per_s": round(len(latencies) / got["elapsed_s"], 1),
        "p50_ms": _percentile(latencies, 0.5), "p99_ms": _percentile(latencies, 0.99),
        "own_p50_ms": _percentile(own, 0.5), "own_p99_ms": _percentile(own, 0.99),
        "errors": got["errors"], "answered": len(latencies), "rejected_transactions": got["conflicts"],
        "generators": got["generators"], "generator_cpu_cores": round(got["generator_cpu_cores"], 2),
        "busiest_generator_core": round(got["busiest_generator_cores"], 2),
        "model_cpu_cores": round(got["model_cpu_cores"], 2),
        "chain_gap_free": got["chain_gap_free"],
    })
    return row


def run(seconds: float = 4.0, levels: tuple[int, ...] = LEVELS, backend: str = "model",
        interval: float | None = None) -> list[dict[str, object]]:
    """Every level for both designs, interleaved (head then sequenced at each level), on one backend: ``model``
    (``bench/dynamo_model.py``: DynamoDB's semantics at microseconds a call, in a process of its own, the
    containers in generator processes), ``model_in_process`` (the same, everything in this process) or
    ``emulator`` (moto in process, whose ~3 ms of CPU per call caps any design near 150 requests/s on two
    cores); closed loop, or paced at one request per ``interval`` seconds per client."""
    if backend == "model":
        return [measure_processes(design, clients, seconds, interval) for clients in levels for design in DESIGNS]
    if backend == "model_in_process":
        from bench.dynamo_model import ModelTable

        return [measure(design, clients, seconds, ModelTable(), interval)
                for clients in levels for design in DESIGNS]
    import moto

    from chalicelib.adapters.aws import AwsClients
    from deploy.tables import AUDIT, DATA, create_table_kwargs
    from devtools import emulator

    emulator.install()
    with moto.mock_aws():
        real = AwsClients().dynamodb(REGION)
        for table in (AUDIT, DATA):
            real.create_table(**create_table_kwargs(table, "UK"))
        return [measure(design, clients, seconds, real, interval) for clients in levels for design in DESIGNS]


def _ratio(rows: list[dict[str, object]], column: str, top: int) -> float:
    by = {(str(r["design"]), int(str(r["clients"]))): r for r in rows}
    base = by.get(("sequenced", 8))
    return float(str(by[("sequenced", top)][column])) / float(str(base[column])) if base else float("nan")


def verdict(closed: list[dict[str, object]], paced: list[dict[str, object]] | None = None) -> tuple[bool, str]:
    """Goal check: sequenced >= 10x head at the top level (closed loop), 0 sequenced errors, sequenced's p99 at
    the top within 2x of its p99 at 8 clients, both for the containers' own time (closed loop) and on the wall
    clock at a paced load of at least 10x what head answers; every chain gap-free."""
    by = {(str(r["design"]), int(str(r["clients"]))): r for r in closed}
    top = max(int(str(r["clients"])) for r in closed)
    old, new = by[("head", top)], by[("sequenced", top)]
    new_rate, old_rate = float(str(new["requests_per_s"])), float(str(old["requests_per_s"]))
    ratio = new_rate / max(old_rate, 0.1)
    every = closed + (paced or [])
    seq_errors = sum(int(str(r["errors"])) for r in every if r["design"] == "sequenced")
    own_ratio, wall_ratio = _ratio(closed, "own_p99_ms", top), _ratio(closed, "p99_ms", top)
    gap_free = all(bool(r["chain_gap_free"]) for r in every)
    text = (f"at {top} clients sequenced {new_rate:.0f} vs head {old_rate:.0f} audited requests/s "
            f"({ratio:.1f}x, goal >= 10x); sequenced errors {seq_errors}, head errors at {top}: {old['errors']}; "
            f"sequenced p99 at {top} clients vs 8: "
            f"{own_ratio:.1f}x in each container's own time (goal <= 2x)")
    met = ratio >= 10 and seq_errors == 0 and own_ratio <= 2 and gap_free
    if paced:
        paced_top = {(str(r["design"]), int(str(r["clients"]))): r for r in paced}[("sequenced", top)]
        paced_ratio = _ratio(paced, "p99_ms", top)
        offered = float(str(paced_top["offered_per_s"]))
        met = met and paced_ratio <= 2 and offered >= 10 * old_rate
        text += (f", {paced_ratio:.1f}x on the wall clock when paced at {offered:.0f} requests/s "
                 f"({offered / max(old_rate, 0.1):.0f}x head's rate; goal <= 2x)")
    if "generator_cpu_cores" in new:
        text += (f"; closed loop on the wall clock {wall_ratio:.1f}x ({new['generators']} generator process(es) at "
                 f"{float(str(new['generator_cpu_cores'])):.2f} cores, the busiest at "
                 f"{float(str(new['busiest_generator_core'])):.2f} of its core; the model process at "
                 f"{float(str(new['model_cpu_cores'])):.2f})")
    else:
        text += (f"; closed loop on the wall clock {wall_ratio:.1f}x (this one process's interpreter saturated at "
                 f"{float(str(new['harness_cpu_cores'])):.2f} cores)")
    text += f"; every chain gap-free: {gap_free}"
    return met, text


def main() -> None:
    from bench.common import markdown_table

    closed, paced = run(), run(interval=PACED_INTERVAL)
    print(markdown_table(closed))
    print(markdown_table(paced))
    print(verdict(closed, paced)[1])


if __name__ == "__main__":
    main()
