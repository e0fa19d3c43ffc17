"""DynamoDB's per-partition throughput limits, for the contention benchmark's partition mode.

DynamoDB spreads a table over partitions by the hash of each item's partition key, and caps every
partition at 1,000 write units and 3,000 read units a second (the developer guide, "Partitions and data
distribution" and "Read/write capacity mode"), on-demand tables included. A unit is 1 KB written or 4 KB
read (sizes rounded up per item); an eventually consistent read costs half a unit, a transactional write
two units per KB. On-demand DynamoDB splits a hot partition for heat only when its sort keys are random and
only after minutes of sustained load: within this benchmark's minute a partition key keeps its partition,
so the audit items of one tenant (one partition key, ``TENANT#<id>``, sequential sort keys) share one cap.

``PartitionLimits`` charges each call's units to its partition in one-second windows of a clock it is
given, and refuses a call that would take a partition over its cap (the caller models the refusal: a
``ProvisionedThroughputExceededException`` that the SDK retries with backoff, or a transaction cancelled
with ``ThrottlingError``). Burst capacity (up to 300 s of unused throughput) is not modelled: the
benchmark's load is sustained.

Which partition an item lands in is pluggable: a ``KeyDesign`` names the partition key DynamoDB would hash
for an item. Both audit designs measured write their real keys (``chalicelib/domain/audit/layout.py``), so
their partition is the item's own ``pk``: ``current`` is the audit store writing the layout of before
(every audit item of a tenant under ``TENANT#<id>``), ``sharded`` the store as deployed now (events,
markers and landed records spread over shard keys). A design that only remaps keys (``pk`` plus a shard
drawn from the sort key, say) is one more function, measured without touching the audit store.

A global secondary index is partitioned too: a write of an item that carries an index's key attributes
is also charged (1 unit per KB, not transactional: DynamoDB propagates it) to the index partition of its
key, and a write that would take an index partition over its cap is refused like one over the table's
(DynamoDB throttles the table's writes when an index cannot keep up). ``PartitionLimits(capped=...)``
limits only the tables named (other tables are charged and their peaks kept, not refused).
"""
from __future__ import annotations

import hashlib
import math
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

WRITE_CAP = 1000.0  # write units per second per partition
READ_CAP = 3000.0  # read units per second per partition
WRITE_UNIT = 1024
READ_UNIT = 4096
PARTITIONS = 1024  # physical partitions per table: distinct keys rarely share one (adaptive capacity isolates)

KeyDesign = Callable[[str, str, str], str]
"""(table, pk, sk) -> the partition key DynamoDB hashes to place that item."""


def current_keys(table: str, pk: str, sk: str) -> str:
    """An item's partition is its own ``pk`` (the audit store writes each design's real keys)."""
    return pk


KEY_DESIGNS: dict[str, KeyDesign] = {"current": current_keys, "sharded": current_keys}
"""Key design -> partition of an item; ``bench_partitions.STORE_LAYOUTS`` gives the audit layout each
design's store writes (``current``: all under ``TENANT#<id>``; ``sharded``: the deployed one)."""


_FIXED = {"BOOL": 1, "NULL": 1}


def value_size(value: dict[str, Any]) -> int:
    """The bytes DynamoDB counts for one attribute value (strings UTF-8, numbers ~1 byte per 2 digits)."""
    (kind, inner), = value.items()
    sizes: dict[str, Callable[[], int]] = {
        "S": lambda: len(str(inner).encode()),
        "N": lambda: 1 + math.ceil(len(str(inner)) / 2),
        "B": lambda: len(inner),
        "M": lambda: 3 + item_size(inner),
        "L": lambda: 3 + sum(1 + value_size(v) for v in inner),
        "SS": lambda: sum(len(str(v).encode()) for v in inner),
        "NS": lambda: sum(len(str(v)) for v in inner),
        "BS": lambda: sum(len(v) for v in inner),
    }
    if kind in _FIXED:
        return _FIXED[kind]
    if kind not in sizes:
        raise NotImplementedError(kind)
    return sizes[kind]()


def item_size(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB bills it: attribute names plus values."""
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def write_units(size: int, transactional: bool = False) -> float:
    """1 unit per KB or part of one, at least 1; a transaction's item costs twice that."""
    return max(1, math.ceil(size / WRITE_UNIT)) * (2 if transactional else 1)


def read_units(size: int, consistent: bool = False) -> float:
    """1 unit per 4 KB or part of one, at least 1 (half for an eventually consistent read)."""
    return max(1, math.ceil(size / READ_UNIT)) * (1.0 if consistent else 0.5)


@dataclass(frozen=True)
class Charge:
    """Units one call takes from one partition."""

    table: str
    partition_key: str
    units: float
    write: bool


class PartitionLimits:
    """Units used per partition and second of ``clock``; refuses a charge that would exceed a cap."""

    def __init__(self, clock: Callable[[], float], key_design: KeyDesign = current_keys,
                 partitions: int = PARTITIONS, write_cap: float = WRITE_CAP, read_cap: float = READ_CAP,
                 capped: Callable[[str], bool] = lambda table: True) -> None:
        """``capped(table)``: whether a table's (or index's, ``table/index``) partitions refuse units past the
        cap; the others are charged and their peaks kept."""
        self._clock = clock
        self._capped = capped
        self._key_design = key_design
        self._partitions = partitions
        self._caps = {True: write_cap, False: read_cap}
        self._used: dict[tuple[str, int, bool, int], float] = {}
        self._lock = threading.Lock()
        self.throttled: Counter[str] = Counter()
        self.peak: dict[tuple[str, int, bool], float] = {}

    def partition(self, table: str, pk: str, sk: str) -> int:
        """The physical partition of an item: the hash of the partition key its design gives it."""
        key = self._key_design(table, pk, sk)
        return int.from_bytes(hashlib.md5(key.encode(), usedforsecurity=False).digest()[:8], "big") \
            % self._partitions

    def charge(self, name: str, charges: Iterable[tuple[str, str, str, float, bool]]) -> list[bool]:
        """Take every charge ``(table, pk, sk, units, write)`` or none: per charge, whether its partition
        refused it (counted under ``name``). A partition's cap holds for each whole second of the clock."""
        second = int(self._clock())
        with self._lock:
            wanted: dict[tuple[str, int, bool, int], float] = {}
            slots = []
            for table, pk, sk, units, write in charges:
                slot = (table, self.partition(table, pk, sk), write, second)
                wanted[slot] = wanted.get(slot, 0.0) + units
                slots.append(slot)
            over = {slot for slot, units in wanted.items()
                    if self._capped(slot[0]) and self._used.get(slot, 0.0) + units > self._caps[slot[2]]}
            if over:
                self.throttled[name] += 1
                return [slot in over for slot in slots]
            for slot, units in wanted.items():
                used = self._used[slot] = self._used.get(slot, 0.0) + units
                peak_key = slot[:3]
                self.peak[peak_key] = max(self.peak.get(peak_key, 0.0), used)
            return [False] * len(slots)

    def peak_of(self, table: str, pk: str, write: bool) -> float:
        """The most units the partition of key ``pk`` took in one second so far."""
        return self.peak.get((table, self.partition(table, pk, ""), write), 0.0)

    def peak_units(self, table: str, write: bool) -> float:
        """The most units one partition of ``table`` took in one second so far."""
        return max((units for (t, _, w), units in self.peak.items() if t == table and w == write), default=0.0)
