"""The contention benchmark's containers: one audited request after another against ONE tenant's trail, their
outcomes, and the sealer and chain check (shared by ``bench_contention`` and its generator processes,
``contention_processes``)."""

from __future__ import annotations

import itertools
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from chalicelib.adapters.audit_store import AuditStore
from chalicelib.domain.audit import AuditEventDraft
from chalicelib.domain.errors import ServiceUnavailable, Throttled

REGION = "eu-west-2"
AUDIT_TABLE = "enclave-audit-uk"
DATA_TABLE = "enclave-data-uk"
READ_SHARE = 0.8
LATENCY = 0.010


class Store(Protocol):
    def commit(self, tenant_id: str, jurisdiction: str, draft: AuditEventDraft,
               changes: Any = ...) -> dict[str, Any]: ...


class Waiting(Protocol):
    def waited(self) -> float: ...


@dataclass
class Outcome:
    """One client's answered requests: wall-clock latency and the container's own (modelled waits + CPU)."""

    latencies_ms: list[float] = field(default_factory=list)
    own_ms: list[float] = field(default_factory=list)
    errors: int = 0


@dataclass
class Client:
    """What one client thread needs: its container's store and data client, and its pacing (None: closed loop)."""

    store: Store
    data: Any  # a ContendedClient, or a RemoteClient to the model in another process
    contention: Waiting
    index: int
    interval: float | None


def _table_for(jurisdiction: str) -> str:
    return f"enclave-audit-{jurisdiction.lower()}"


def _now() -> datetime:
    return datetime.now(UTC)


def _draft(client: int, n: int, action: str) -> AuditEventDraft:
    return AuditEventDraft(actor_sub=f"learner-{client}", actor_role="tenant_staff", action=action,
                           resource=f"learners/{client}", outcome="success", request_id=f"{client}-{n}",
                           details={})


def _request(client: Client, tenant_id: str, rng: random.Random, n: int) -> None:
    pk = {"S": f"TENANT#{tenant_id}"}
    if rng.random() < READ_SHARE:
        client.data.get_item(TableName=DATA_TABLE, Key={"pk": pk, "sk": {"S": f"L#{client.index}"}})
        client.store.commit(tenant_id, "UK", _draft(client.index, n, "learner.read"))
    else:
        change = {"Put": {"TableName": DATA_TABLE, "ConditionExpression": "attribute_not_exists(pk)",
                          "Item": {"pk": pk, "sk": {"S": f"M#{client.index}#{n:06d}"}}}}
        client.store.commit(tenant_id, "UK", _draft(client.index, n, "result.create"), [change])


def _client_loop(client: Client, tenant_id: str, start: threading.Barrier, deadline: list[float],
                 outcome: Outcome) -> None:
    """Closed loop (the next request as soon as one is answered) or paced (one every ``interval``, at a random
    phase; latency counted from the scheduled start, so a request that had to wait for a late one counts it)."""
    rng = random.Random(client.index)
    start.wait()
    scheduled = time.perf_counter() + (rng.uniform(0, client.interval) if client.interval else 0.0)
    for n in itertools.count():
        if client.interval:
            ahead = scheduled - time.perf_counter()
            if ahead > 0:
                time.sleep(ahead)
        if time.monotonic() >= deadline[0]:
            return
        began = scheduled if client.interval else time.perf_counter()
        waited, cpu = client.contention.waited(), time.thread_time()
        try:
            _request(client, tenant_id, rng, n)
        except (ServiceUnavailable, Throttled):
            outcome.errors += 1
        else:
            outcome.latencies_ms.append((time.perf_counter() - began) * 1000)
            outcome.own_ms.append((client.contention.waited() - waited + time.thread_time() - cpu) * 1000)
        scheduled += client.interval or 0.0


def _sealer(store: AuditStore, tenant_id: str, stop: threading.Event) -> None:
    while not stop.is_set():
        store.seal(tenant_id, "UK")
        stop.wait(0.05)


def _chain_ok(real: Any, tenant_id: str, expected: int) -> bool:
    events = list(AuditStore(real, _table_for, REGION, _now).events(tenant_id, "UK"))
    return ([e["seq"] for e in events] == list(range(1, expected + 1))
            and all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(events)))
