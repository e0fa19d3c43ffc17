"""The contention benchmark across processes: DynamoDB's model in one, the containers in generator processes.

In one process the 128 containers, their audit stores and the DynamoDB model share one interpreter, which
saturates before the design does. Here:

* the model process (``serve_model``) holds the in-memory table (``bench/dynamo_model.py``) and the contention
  state (``Contention``: the items held by in-flight transactions, the call counts). Every container's call
  reaches it over a connection of its own and runs there, in a thread per connection, through
  ``ContendedClient`` exactly as in process: the modelled round trip is slept there, so an item stays held
  for its transaction's duration, and conflicts are decided in one place. It also runs the sequencer (``sequenced``)
  and checks the chain at the end. Its CPU is DynamoDB's work and the stream trigger's, not the harness's;
* the generator processes (``drive_containers``, one per core beyond the model's, at least one) run the
  containers as threads, each with its own audit store over a ``RemoteClient``, and report every request's
  latency, each container's own time (the modelled waits the model reports back, its local backoffs and its
  thread's CPU), the errors, and the process's CPU over the run, so the report shows the generators' headroom.

Processes are spawned (not forked): the benchmark's own process may hold threads and locks.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Client as connect
from multiprocessing.connection import Connection, Listener
from typing import Any

MODEL_CORES = 1  # the model is one process (one interpreter): the generators get the other cores
HOST = "127.0.0.1"


def generator_count() -> int:
    """One generator process per core beyond the model's, at least one."""
    return max(1, (os.cpu_count() or 1) - MODEL_CORES)


class Waits:
    """A container's modelled waits: the round trips the model reports, and its local backoffs (slept here)."""

    def __init__(self) -> None:
        self._local = threading.local()

    def add(self, seconds: float) -> None:
        self._local.total = self.waited() + seconds

    def wait(self, seconds: float) -> None:
        self.add(seconds)
        time.sleep(seconds)

    def waited(self) -> float:
        return float(getattr(self._local, "total", 0.0))


class RemoteClient:
    """A DynamoDB client whose calls run in the model process (one connection per container)."""

    def __init__(self, address: tuple[str, int], authkey: bytes, waits: Waits) -> None:
        self._connection = connect(address, authkey=authkey)
        self._waits = waits

    def _call(self, name: str, kwargs: dict[str, Any]) -> Any:
        self._connection.send((name, kwargs))
        ok, answer, waited = self._connection.recv()
        self._waits.add(waited)
        if not ok:
            raise answer
        return answer

    def close(self) -> None:
        self._connection.close()

    def get_item(self, **kwargs: Any) -> Any:
        return self._call("get_item", kwargs)

    def batch_get_item(self, **kwargs: Any) -> Any:
        return self._call("batch_get_item", kwargs)

    def query(self, **kwargs: Any) -> Any:
        return self._call("query", kwargs)

    def put_item(self, **kwargs: Any) -> Any:
        return self._call("put_item", kwargs)

    def update_item(self, **kwargs: Any) -> Any:
        return self._call("update_item", kwargs)

    def transact_write_items(self, **kwargs: Any) -> Any:
        return self._call("transact_write_items", kwargs)


def _serve_connection(connection: Connection, client: Any, contention: Any) -> None:
    with connection:
        while True:
            try:
                name, kwargs = connection.recv()
            except (EOFError, OSError):
                return
            before = contention.waited()
            try:
                answer = (True, getattr(client, name)(**kwargs))
            except Exception as exc:  # a ClientError goes back to the container that made the call
                answer = (False, exc)
            connection.send((*answer, contention.waited() - before))


def serve_model(control: Connection, design: str, tenant_id: str, latency: float) -> None:
    """The model process: accept the containers' connections, seal while told to run (sequenced), then check the chain
    and answer the conflicts counted and this process's CPU."""
    from bench import contention_clients
    from bench.dynamo_contention import ContendedClient, Contention
    from bench.dynamo_model import ModelTable
    from chalicelib.adapters.audit_store import AuditStore

    real, contention = ModelTable(), Contention(latency)
    authkey = os.urandom(16)
    listener = Listener((HOST, 0), authkey=authkey, backlog=1024)
    control.send((listener.address, authkey))

    def accept() -> None:
        while True:
            try:
                connection = listener.accept()
            except OSError:
                return
            threading.Thread(target=_serve_connection, args=(connection, ContendedClient(real, contention),
                                                             contention), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    stop = threading.Event()
    sealer = None
    if control.recv() == "go" and design == "sequenced":
        sealing = AuditStore(ContendedClient(real, contention), contention_clients._table_for,  # type: ignore[arg-type]
                             contention_clients.REGION, contention_clients._now)
        sealer = threading.Thread(target=contention_clients._sealer, args=(sealing, tenant_id, stop))
        sealer.start()
    gc.disable()
    cpu = time.process_time()
    answered = control.recv()  # the generators are done
    cpu = time.process_time() - cpu
    gc.enable()
    stop.set()
    if sealer is not None:
        sealer.join()
    listener.close()
    conflicts = sum(count for name, count in contention.calls.items() if name.endswith(":conflict"))
    control.send({"cpu_s": cpu, "conflicts": conflicts,
                  "chain_gap_free": contention_clients._chain_ok(real, tenant_id, answered)})


@dataclass
class Job:
    """One generator's share: its containers' indexes, the model's address, the design and the pacing (the
    measured seconds come with the start signal)."""

    design: str
    tenant_id: str
    indexes: list[int]
    address: tuple[str, int]
    authkey: bytes
    interval: float | None


def _store(design: str, client: RemoteClient, waits: Waits) -> Any:
    from bench import contention_clients
    from bench.head_per_request_store import HeadPerRequestStore
    from chalicelib.adapters.audit_store import AuditStore, backoff_delay

    def backoff(attempt: int) -> None:
        waits.wait(backoff_delay(attempt))

    kind: Callable[..., Any] = HeadPerRequestStore if design == "head" else AuditStore
    return kind(client, contention_clients._table_for, contention_clients.REGION, contention_clients._now,
                backoff=backoff)


def drive_containers(control: Connection, job: Job) -> None:
    """A generator process: its containers as threads, connected before the start; at ``go`` each runs closed
    loop or paced until the deadline; answers every outcome and this process's CPU seconds over the run."""
    from bench import contention_clients

    waits = Waits()
    remotes = [RemoteClient(job.address, job.authkey, waits) for _ in job.indexes]
    outcomes = [contention_clients.Outcome() for _ in job.indexes]
    start = threading.Barrier(len(job.indexes) + 1)
    deadline = [float("inf")]
    containers = [contention_clients.Client(_store(job.design, remote, waits), remote, waits, index, job.interval)
                  for index, remote in zip(job.indexes, remotes, strict=True)]
    threads = [threading.Thread(target=contention_clients._client_loop,
                                args=(container, job.tenant_id, start, deadline, outcome))
               for container, outcome in zip(containers, outcomes, strict=True)]
    for thread in threads:
        thread.start()
    control.send("ready")
    seconds = float(control.recv())
    gc.collect()
    gc.disable()
    start.wait()
    cpu, began = time.process_time(), time.monotonic()
    deadline[0] = began + seconds
    for thread in threads:
        thread.join()
    cpu, elapsed = time.process_time() - cpu, time.monotonic() - began
    gc.enable()
    for remote in remotes:
        remote.close()
    control.send({"outcomes": [(o.latencies_ms, o.own_ms, o.errors) for o in outcomes], "cpu_s": cpu,
                  "elapsed_s": elapsed})


def measure(design: str, clients: int, seconds: float, tenant_id: str, latency: float,
            interval: float | None = None) -> dict[str, Any]:
    """One level across processes: the model, and ``generator_count()`` generators sharing the ``clients``
    containers; the outcomes, the generators' and the model's CPU, the conflicts and the chain check."""
    context = multiprocessing.get_context("spawn")
    model_end, model_here = context.Pipe()
    model = context.Process(target=serve_model, args=(model_end, design, tenant_id, latency), daemon=True)
    model.start()
    address, authkey = model_here.recv()
    count = min(generator_count(), clients)
    shuffled = list(range(clients))
    random.Random(clients).shuffle(shuffled)  # every generator gets early and late containers alike
    generators = []
    for g in range(count):
        here, there = context.Pipe()
        job = Job(design, tenant_id, sorted(shuffled[g::count]), address, authkey, interval)
        process = context.Process(target=drive_containers, args=(there, job), daemon=True)
        process.start()
        generators.append((process, here))
    for _, here in generators:
        if here.recv() != "ready":
            raise RuntimeError("a contention generator did not start")
    model_here.send("go")
    began = time.monotonic()
    for _, here in generators:
        here.send(seconds)
    answers = [here.recv() for _, here in generators]
    elapsed = time.monotonic() - began
    answered = sum(len(latencies) for answer in answers for latencies, _, _ in answer["outcomes"])
    model_here.send(answered)
    model_report = model_here.recv()
    for process, _ in generators:
        process.join(timeout=30)
    model.join(timeout=30)
    run_seconds = max(answer["elapsed_s"] for answer in answers)
    return {
        "latencies_ms": [ms for answer in answers for latencies, _, _ in answer["outcomes"] for ms in latencies],
        "own_ms": [ms for answer in answers for _, own, _ in answer["outcomes"] for ms in own],
        "errors": sum(errors for answer in answers for _, _, errors in answer["outcomes"]),
        "elapsed_s": run_seconds, "wall_s": elapsed, "generators": count,
        "generator_cpu_cores": sum(answer["cpu_s"] for answer in answers) / run_seconds,
        "busiest_generator_cores": max(answer["cpu_s"] / answer["elapsed_s"] for answer in answers),
        "model_cpu_cores": model_report["cpu_s"] / run_seconds, "conflicts": model_report["conflicts"],
        "chain_gap_free": model_report["chain_gap_free"],
    }
