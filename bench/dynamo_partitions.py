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
for an item. ``current_keys`` is the deployed design (the item's own ``pk``); a sharded audit key design is
one more function in ``KEY_DESIGNS`` (for instance, ``pk`` plus a shard drawn from the sort key), measured
by ``bench.bench_partitions`` without touching the audit store.
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
    """The deployed design: an item's partition is its own ``pk`` (every audit item of a tenant: one key)."""
    return pk


KEY_DESIGNS: dict[str, KeyDesign] = {"current": current_keys}


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
                 partitions: int = PARTITIONS, write_cap: float = WRITE_CAP, read_cap: float = READ_CAP) -> None:
        self._clock = clock
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
                    if self._used.get(slot, 0.0) + units > self._caps[slot[2]]}
            if over:
                self.throttled[name] += 1
                return [slot in over for slot in slots]
            for slot, units in wanted.items():
                used = self._used[slot] = self._used.get(slot, 0.0) + units
                peak_key = slot[:3]
                self.peak[peak_key] = max(self.peak.get(peak_key, 0.0), used)
            return [False] * len(slots)

    def peak_units(self, table: str, write: bool) -> float:
        """The most units one partition of ``table`` took in one second so far."""
        return max((units for (t, _, w), units in self.peak.items() if t == table and w == write), default=0.0)
