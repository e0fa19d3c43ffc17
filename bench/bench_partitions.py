"""One tenant's audited requests against DynamoDB's per-partition limits, at a paced rate, in modelled time.

The contention benchmark's other tables measure transaction conflicts; this one measures the other limit a
single busy tenant meets: a partition takes at most 1,000 write units and 3,000 read units a second
(``bench/dynamo_partitions.py``). Two audit key designs, the same workload: ``current``, the layout of
before (every audit item of a tenant under ``TENANT#<id>``: at 5,000 audited requests/s that partition is
asked for several times its cap), and ``sharded``, the deployed one (``chalicelib/domain/audit/layout.py``,
docs/audit-partitions.md). The audit table and its indexes are capped; the data table is charged and its
busiest partition reported, not capped: its keys are not this design's (every data item of a tenant is
under ``TENANT#<id>`` too, so 1,000 transactional data writes a second ask it for 2,000 units).

How it runs: the deployed ``AuditStore`` over ``bench/dynamo_model.py`` behind ``ContendedClient`` with
partition limits, 10 ms a call, and the SDK's retry of a throttled call (up to 3 attempts, backoff up to 1 s
then 2 s). Time is modelled, not waited: requests arrive every ``1/rate`` seconds (open loop: Lambda gives
each its own container), each runs to its end before the next starts, and its latency is its modelled round
trips and backoffs. The load generator therefore cannot be the bottleneck at any rate, and the figures do not
depend on the machine (``harness_cpu_s`` is what computing them cost). Reads are 80 % (a GetItem of a data
item, then the event's PutItem), writes 20 % (one transaction: the data put and the event). The sequencer is
the stream's: an invocation seals up to 100 landed events by name (``seal(named, scan=False)``), when 100 are
waiting or the oldest has waited 1 s, one invocation at a time; a throttled invocation is retried with its
records. At the end everything is sealed and the chain is checked gap-free.

The key design is a strategy: ``KEY_DESIGNS`` in ``bench/dynamo_partitions.py`` maps an item to the partition
key DynamoDB hashes, ``STORE_LAYOUTS`` the audit layout the store writes and ``INDEXES`` the audit table's
indexes under each design; ``run(design=...)`` measures one.

Run ``python -m bench.bench_partitions``.
"""
from __future__ import annotations

import bisect
import contextlib
import itertools
import os
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bench.dynamo_contention import ContendedClient, Contention
from bench.dynamo_model import ModelTable
from bench.dynamo_partitions import KEY_DESIGNS, WRITE_CAP, PartitionLimits
from chalicelib.adapters.audit_store import AuditStore, backoff_delay
from chalicelib.domain.audit import AuditEventDraft
from chalicelib.domain.audit.layout import LEGACY, SHARDED, AuditLayout, tenant_pk
from chalicelib.domain.errors import ServiceUnavailable, Throttled
from chalicelib.domain.ids import new_id
from deploy.tables import AUDIT, Index

REGION = "eu-west-2"
DATA_TABLE = "enclave-data-uk"
AUDIT_TABLE = "enclave-audit-uk"
READ_SHARE = 0.8
LATENCY = 0.010
RATES = (500, 5000)
STREAM_BATCH = 100  # the sequencer's BatchSize (deploy/sequencer.py)
STREAM_WINDOW = 1.0  # seconds: MaximumBatchingWindowInSeconds
STORE_LAYOUTS: dict[str, AuditLayout] = {"current": LEGACY, "sharded": SHARDED}
INDEXES: dict[str, tuple[Index, ...]] = {
    "current": tuple(index for index in AUDIT.indexes if index.name == "by_time"),  # the table of before
    "sharded": AUDIT.indexes,
}


def _table_for(jurisdiction: str) -> str:
    return f"enclave-audit-{jurisdiction.lower()}"


def _now() -> datetime:
    return datetime.now(UTC)


class ModelledClock:
    """The modelled time: where the request (or sequencer invocation) being run has got to."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Sequencer:
    """The stream's sequencer: one invocation at a time, up to ``STREAM_BATCH`` landed events each."""

    store: AuditStore
    clock: ModelledClock
    tenant_id: str
    landed: list[tuple[float, str]] = field(default_factory=list)  # (landed at, event id), in landing order
    free_at: float = 0.0
    lags: list[float] = field(default_factory=list)
    failed: int = 0

    def due(self) -> float:
        """When the next invocation starts (infinity while nothing landed)."""
        if not self.landed:
            return float("inf")
        ready = self.landed[STREAM_BATCH - 1][0] if len(self.landed) >= STREAM_BATCH \
            else self.landed[0][0] + STREAM_WINDOW
        return max(self.free_at, ready)

    def invoke(self, at: float) -> None:
        self.clock.now = at
        batch = self.landed[:STREAM_BATCH]
        try:
            self.store.seal(self.tenant_id, "UK", [event_id for _, event_id in batch], scan=False)
        except (ServiceUnavailable, Throttled):
            self.failed += 1  # the stream retries the batch: its records stay
        else:
            del self.landed[:len(batch)]
            self.lags += [self.clock.now - landed for landed, _ in batch]
        self.free_at = max(self.clock.now, at + 0.001)


def _draft(n: int, action: str) -> AuditEventDraft:
    return AuditEventDraft(actor_sub=f"learner-{n % 1000}", actor_role="tenant_staff", action=action,
                           resource=f"learners/{n % 1000}", outcome="success", request_id=f"req-{n}", details={})


def _request(store: AuditStore, data: ContendedClient, tenant_id: str, rng: random.Random, n: int) -> str:
    """One audited request; the landed event's id."""
    pk = {"S": f"TENANT#{tenant_id}"}
    if rng.random() < READ_SHARE:
        data.get_item(TableName=DATA_TABLE, Key={"pk": pk, "sk": {"S": f"L#{n % 1000}#P"}})
        return str(store.commit(tenant_id, "UK", _draft(n, "learner.read"))["event_id"])
    change: Any = {"Put": {"TableName": DATA_TABLE, "ConditionExpression": "attribute_not_exists(pk)",
                           "Item": {"pk": pk, "sk": {"S": f"M#{n:08d}"}, "score": {"N": "17"}}}}
    return str(store.commit(tenant_id, "UK", _draft(n, "result.create"), [change])["event_id"])


def _percentile(values: list[float], share: float) -> float | str:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * share))], 1) if ordered else "-"


def _chain_ok(model: ModelTable, tenant_id: str, expected: int, layout: AuditLayout) -> bool:
    events = list(AuditStore(model, _table_for, REGION, _now,  # type: ignore[arg-type]
                             layout=layout).events(tenant_id, "UK"))
    return ([e["seq"] for e in events] == list(range(1, expected + 1))
            and all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(events)))


@dataclass
class _Run:
    """One run's moving parts."""

    store: AuditStore
    data: ContendedClient
    sequencer: Sequencer
    clock: ModelledClock
    tenant_id: str
    rng: random.Random
    latencies: list[float] = field(default_factory=list)
    errors: int = 0


def _drive(run: _Run, total: int, interval: float, seconds: float) -> None:
    """Requests at their arrival times and sequencer invocations when due, in modelled-time order."""
    n = 0
    while True:
        arrival = n * interval if n < total else float("inf")
        due = run.sequencer.due()
        if arrival == float("inf") and due > seconds + 600:  # all sent; sealing done (or given up)
            return
        if due <= arrival:
            run.sequencer.invoke(due)
            continue
        run.clock.now = arrival
        try:
            event_id = _request(run.store, run.data, run.tenant_id, run.rng, n)
        except (ServiceUnavailable, Throttled):
            run.errors += 1
        else:
            run.latencies.append((run.clock.now - arrival) * 1000)
            bisect.insort(run.sequencer.landed, (run.clock.now, event_id))
        n += 1


def run(rate: float, seconds: float, design: str = "current", seed: int = 0) -> dict[str, object]:
    """``rate`` audited requests/s of one tenant for ``seconds`` of modelled time under the partition
    limits with key design ``design``; the row of the report."""
    cpu_started = time.process_time()
    clock = ModelledClock()
    limits = PartitionLimits(clock, KEY_DESIGNS[design], capped=lambda table: table.startswith(AUDIT_TABLE))
    contention = Contention(LATENCY, sleep=clock.advance, limits=limits, seed=seed,
                            indexes={AUDIT_TABLE: INDEXES[design]})
    model = ModelTable()
    layout = STORE_LAYOUTS[design]

    def backoff(attempt: int) -> None:
        contention.wait(backoff_delay(attempt))

    def audit_store() -> AuditStore:
        return AuditStore(ContendedClient(model, contention), _table_for, REGION, _now,  # type: ignore[arg-type]
                          backoff=backoff, layout=layout)

    tenant_id = new_id("tnt")
    state = _Run(audit_store(), ContendedClient(model, contention), Sequencer(audit_store(), clock, tenant_id),
                 clock, tenant_id, random.Random(seed))
    total = int(rate * seconds)
    with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):  # the failure metric's EMF lines
        _drive(state, total, 1.0 / rate, seconds)
    latencies, sequencer = state.latencies, state.sequencer
    return {
        "design": design, "offered_per_s": round(rate), "seconds": seconds, "requests": total,
        "answered": len(latencies), "errors": state.errors, "error_share": f"{state.errors / max(total, 1):.1%}",
        "throttled_calls": sum(limits.throttled.values()),  # only capped partitions refuse: the audit table's
        "throttled_by_call": ", ".join(f"{name} {count}" for name, count in sorted(limits.throttled.items())),
        "p50_ms": _percentile(latencies, 0.5), "p99_ms": _percentile(latencies, 0.99),
        "audit_partition_peak_wcu_s": round(limits.peak_units(AUDIT_TABLE, write=True)),
        "audit_partition_peak_rcu_s": round(limits.peak_units(AUDIT_TABLE, write=False)),
        "head_partition_peak_wcu_s": round(limits.peak_of(AUDIT_TABLE, tenant_pk(tenant_id), write=True)),
        "time_index_peak_wcu_s": round(max(limits.peak_units(f"{AUDIT_TABLE}/{index.name}", write=True)
                                           for index in INDEXES[design])),
        "data_partition_peak_wcu_s": round(limits.peak_units(DATA_TABLE, write=True)),
        "seal_lag_p99_s": _percentile(sequencer.lags, 0.99), "sequencer_retries": sequencer.failed,
        "chain_gap_free": _chain_ok(model, tenant_id, len(latencies), layout) and not sequencer.landed,
        "harness_cpu_s": round(time.process_time() - cpu_started, 1),
    }


def run_all(seconds: float = 60.0, rates: tuple[float, ...] = RATES,
            designs: tuple[str, ...] = tuple(KEY_DESIGNS)) -> list[dict[str, object]]:
    """Every design at every rate."""
    return [run(rate, seconds, design) for design in designs for rate in rates]


def describe(seconds: float) -> str:
    """The report's caption for ``run_all(seconds)``."""
    return (f"Partition limits (`bench/bench_partitions.py`): one tenant paced at "
            f"{' and '.join(f'{r:,}' for r in RATES)} audited requests/s for {seconds:g} s of modelled time (the "
            "harness is a model: time is modelled, not waited), DynamoDB's 1,000 WCU/s and 3,000 RCU/s per "
            "partition of the audit table and of its time index (transactional writes double, 1 KB/4 KB units), "
            "the SDK's retries of throttled calls with backoff, the stream sequencer sealing; latency is each "
            "request's modelled round trips and backoffs (harness_cpu_s is what computing the row cost). Key "
            "design 'current': every audit item of the tenant under one partition key (the layout of before); "
            "'sharded': the deployed layout (docs/audit-partitions.md). The data table is charged, not capped "
            "(its keys are not this design's): data_partition_peak_wcu_s is what its busiest partition was asked for")


def goal_met(rows: list[dict[str, object]]) -> bool:
    """The sharded design at its highest rate: 0 throttled calls, 0 errors, the chain gap-free, p99 within 2x
    of its p99 at the lowest rate."""
    mine = sorted((r for r in rows if r["design"] == "sharded"), key=lambda r: int(str(r["offered_per_s"])))
    if not mine:
        return False
    low, high = mine[0], mine[-1]
    return (high["throttled_calls"] == 0 and high["errors"] == 0 and high["chain_gap_free"] is True
            and float(str(high["p99_ms"])) <= 2 * float(str(low["p99_ms"])))


def verdict(rows: list[dict[str, object]]) -> str:
    """What the partition mode found, one sentence per design, and the data table's busiest partition."""
    parts = []
    for design in dict.fromkeys(str(r["design"]) for r in rows):
        mine = sorted((r for r in rows if r["design"] == design), key=lambda r: int(str(r["offered_per_s"])))
        low, high = mine[0], mine[-1]
        parts.append(f"key design '{design}': at {high['offered_per_s']} audited requests/s for {high['seconds']} s "
                     f"{high['throttled_calls']} throttled calls, {high['errors']} errors ({high['error_share']}), "
                     f"p99 {high['p99_ms']} ms vs {low['p99_ms']} ms at {low['offered_per_s']}/s (busiest audit "
                     f"partition {high['audit_partition_peak_wcu_s']} WCU/s, head's "
                     f"{high['head_partition_peak_wcu_s']}, "
                     f"time index's {high['time_index_peak_wcu_s']}; cap {WRITE_CAP:,.0f})")
    data = max(int(str(r["data_partition_peak_wcu_s"])) for r in rows)
    parts.append(f"the data table's tenant partition (not capped here) was asked for up to {data:,} WCU/s"
                 + (" (over its cap: the next limit, the data table's own keys)" if data > WRITE_CAP else ""))
    return "; ".join(parts)


def main() -> None:
    from bench.common import markdown_table

    rows = run_all()
    print(markdown_table(rows))
    print(verdict(rows))


if __name__ == "__main__":
    main()
