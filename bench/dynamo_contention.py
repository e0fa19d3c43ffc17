"""DynamoDB's latency and transaction-conflict rules, layered over the emulator, for the contention benchmark.

The emulator (``devtools.emulator``, moto in process) applies each request atomically and instantly, so
no two transactions ever overlap and a per-tenant hot item costs nothing. DynamoDB differs in the two
ways that decide this benchmark (emulator-facts.md; the DynamoDB developer guide, "Transaction conflict
handling"):

* every call is a network round trip: ``latency`` (10 ms) per call, spent outside the emulator's lock;
* a TransactWriteItems holds its items for its duration; another TransactWriteItems touching one of them
  meanwhile is cancelled (``TransactionCanceledException``, reason ``TransactionConflict`` on that item),
  and a PutItem/UpdateItem on such an item fails with ``TransactionConflictException``. Conflicting
  transactions are rejected, not queued. Reads (GetItem, Query) see committed state and never conflict.

``ContendedClient`` wraps one emulator client (one Lambda container's) and applies both rules; the state
of in-flight items is shared by every client of one ``Contention``. ``Contention.wait`` is every modelled
wait (a round trip, a retry's backoff) and adds it to the calling thread's total, so the benchmark can tell
a container's own time (its waits + its CPU) from time spent queueing for this one process's interpreter.

With ``Contention(limits=PartitionLimits(...))`` every call is also charged to its partition
(``bench/dynamo_partitions.py``): a read or single write over a partition's cap fails with
``ProvisionedThroughputExceededException``, which the client retries as the SDK does (standard mode: 3
attempts, full-jitter backoff of up to 1 s, 2 s for throttling), each retry a round trip and counted; a
transaction over a cap is cancelled with ``ThrottlingError`` on the items of that partition (the SDK does not
retry a cancelled transaction). With ``indexes`` (table -> its global secondary indexes) a put is charged to
the index partition of each index whose key attributes the item carries, as well.
"""
from __future__ import annotations

import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

from bench.dynamo_partitions import PartitionLimits, item_size, read_units, write_units
from deploy.tables import Index
from devtools.emulator import EMULATOR_LOCK

SDK_ATTEMPTS = 3  # botocore's standard retry mode, as chalicelib.adapters.aws configures it
SDK_THROTTLE_BASE = 1.0  # seconds: the standard mode's backoff scale for throttling errors
SDK_MAX_BACKOFF = 20.0
_PK_VALUE = re.compile(r"\bpk = (:\w+)")

Identity = tuple[str, str, str]


def _identity(operation: dict[str, Any], kind: str) -> Identity:
    key = operation["Item"] if kind == "Put" else operation["Key"]
    return operation["TableName"], key["pk"]["S"], key.get("sk", {}).get("S", "")


class Contention:
    """The items held by in-flight transactions, and a count of calls and conflicts."""

    def __init__(self, latency: float = 0.010, sleep: Callable[[float], None] = time.sleep,
                 limits: PartitionLimits | None = None, seed: int = 0,
                 indexes: Mapping[str, Sequence[Index]] | None = None) -> None:
        self.latency = latency
        self.limits = limits
        self.indexes = dict(indexes or {})
        self.random = random.Random(seed)
        self._sleep = sleep
        self._held: set[Identity] = set()
        self._lock = threading.Lock()
        self._waited = threading.local()
        self.calls: Counter[str] = Counter()

    def wait(self, seconds: float) -> None:
        """Sleep ``seconds`` of modelled time (a round trip or a backoff) and count them for this thread."""
        self._waited.total = self.waited() + seconds
        self._sleep(seconds)

    def waited(self) -> float:
        """The modelled seconds this thread has waited so far."""
        return float(getattr(self._waited, "total", 0.0))

    def hold(self, items: list[Identity]) -> list[bool]:
        """Take ``items`` unless one is held; return, per item, whether it was held by another transaction."""
        with self._lock:
            conflicts = [item in self._held for item in items]
            if not any(conflicts):
                self._held.update(items)
            return conflicts

    def release(self, items: list[Identity]) -> None:
        with self._lock:
            self._held.difference_update(items)

    def is_held(self, item: Identity) -> bool:
        with self._lock:
            return item in self._held

    def count(self, name: str) -> None:
        with self._lock:
            self.calls[name] += 1


class ContendedClient:
    """A DynamoDB client with DynamoDB's round-trip latency and transaction conflicts (see module doc)."""

    def __init__(self, client: Any, contention: Contention) -> None:
        self._client = client
        self._contention = contention

    def _call(self, name: str, **kwargs: Any) -> Any:
        limits = self._contention.limits
        for attempt in range(SDK_ATTEMPTS):
            if attempt:
                self._contention.wait(self._contention.random.random()
                                      * min(SDK_THROTTLE_BASE * 2 ** (attempt - 1), SDK_MAX_BACKOFF))
            self._contention.count(name)
            self._contention.wait(self._contention.latency)
            if limits is None:
                with EMULATOR_LOCK:
                    return getattr(self._client, name)(**kwargs)
            if name in ("put_item", "update_item"):
                charges = [self._write_charge(name, kwargs, transactional=False), *self._index_charges(name, kwargs)]
                if any(limits.charge(name, charges)):
                    continue
                with EMULATOR_LOCK:
                    return getattr(self._client, name)(**kwargs)
            with EMULATOR_LOCK:
                answer = getattr(self._client, name)(**kwargs)
            if not any(limits.charge(name, self._read_charges(name, kwargs, answer))):
                return answer
        self._contention.count(name + ":throttled")
        raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException",
                                     "Message": "The level of configured provisioned throughput for the table was "
                                                "exceeded"}}, name)

    def _write_charge(self, kind: str, op: dict[str, Any],
                      transactional: bool) -> tuple[str, str, str, float, bool]:
        """An item write's units: a put's item; an update's or a condition check's stored item (at least the key)."""
        key = op["Item"] if kind in ("Put", "put_item") else op["Key"]
        size = item_size(key)
        if kind in ("Put", "put_item"):
            size = item_size(op["Item"])
        else:
            with EMULATOR_LOCK:
                stored = self._client.get_item(TableName=op["TableName"], Key=key).get("Item")
            size = max(size, item_size(stored) if stored else 0)
        if kind == "ConditionCheck":  # a transaction's condition check reads its item (two read units per 4 KB)
            return op["TableName"], key["pk"]["S"], key.get("sk", {}).get("S", ""), 2 * read_units(size, True), False
        return (op["TableName"], key["pk"]["S"], key.get("sk", {}).get("S", ""),
                write_units(size, transactional), True)

    def _index_charges(self, kind: str, op: dict[str, Any]) -> list[tuple[str, str, str, float, bool]]:
        """A put's writes to the index partitions of the indexes its item is in (all attributes projected)."""
        if kind not in ("Put", "put_item"):
            return []
        item = op["Item"]
        return [(f"{op['TableName']}/{index.name}", str(item[index.hash_key]["S"]), "",
                 write_units(item_size(item)), True)
                for index in self._contention.indexes.get(op["TableName"], ())
                if index.hash_key in item and (index.range_key is None or index.range_key in item)]

    @staticmethod
    def _read_charges(name: str, kwargs: dict[str, Any], answer: dict[str, Any]) -> list[tuple[str, str, str, float,
                                                                                               bool]]:
        if name == "batch_get_item":
            charges = []
            for table, request in kwargs["RequestItems"].items():
                found = {(i["pk"]["S"], i.get("sk", {}).get("S", "")): i for i in answer["Responses"].get(table, [])}
                for key in request["Keys"]:
                    address = (key["pk"]["S"], key.get("sk", {}).get("S", ""))
                    size = item_size(found[address]) if address in found else 0
                    charges.append((table, *address, read_units(size, bool(request.get("ConsistentRead"))), False))
            return charges
        consistent = bool(kwargs.get("ConsistentRead"))
        if name == "get_item":
            key = kwargs["Key"]
            size = item_size(answer["Item"]) if "Item" in answer else 0
            return [(kwargs["TableName"], key["pk"]["S"], key.get("sk", {}).get("S", ""),
                     read_units(size, consistent), False)]
        match = _PK_VALUE.search(kwargs["KeyConditionExpression"])  # a Query: the items it read, together
        pk = kwargs["ExpressionAttributeValues"][match.group(1)]["S"] if match else ""
        size = sum(item_size(item) for item in answer.get("Items", []))
        return [(kwargs["TableName"], pk, "", read_units(size, consistent), False)]

    def get_item(self, **kwargs: Any) -> Any:
        return self._call("get_item", **kwargs)

    def batch_get_item(self, **kwargs: Any) -> Any:
        return self._call("batch_get_item", **kwargs)

    def query(self, **kwargs: Any) -> Any:
        return self._call("query", **kwargs)

    def put_item(self, **kwargs: Any) -> Any:
        return self._single_write("put_item", _identity(kwargs, "Put"), kwargs)

    def update_item(self, **kwargs: Any) -> Any:
        return self._single_write("update_item", _identity(kwargs, "Update"), kwargs)

    def _single_write(self, name: str, item: Identity, kwargs: dict[str, Any]) -> Any:
        if self._contention.is_held(item):
            self._contention.count(name + ":conflict")
            self._contention.wait(self._contention.latency)
            raise ClientError({"Error": {"Code": "TransactionConflictException",
                                         "Message": "Transaction is ongoing for the item"}}, name)
        return self._call(name, **kwargs)

    def transact_write_items(self, **kwargs: Any) -> Any:
        items = [_identity(op, kind) for entry in kwargs["TransactItems"] for kind, op in entry.items()]
        conflicts = self._contention.hold(items)
        if any(conflicts):
            self._contention.count("transact_write_items:conflict")
            self._contention.wait(self._contention.latency)
            reasons = [{"Code": "TransactionConflict" if hit else "None"} for hit in conflicts]
            raise ClientError({"Error": {"Code": "TransactionCanceledException",
                                         "Message": "Transaction cancelled, please refer cancellation reasons"},
                               "CancellationReasons": reasons}, "TransactWriteItems")  # type: ignore[typeddict-item]
        try:
            limits = self._contention.limits
            if limits is not None:
                ops = [(kind, op) for entry in kwargs["TransactItems"] for kind, op in entry.items()]
                charges = [self._write_charge(kind, op, transactional=True) for kind, op in ops]
                owners = list(range(len(ops)))  # the item each charge is for (its index writes too)
                for n, (kind, op) in enumerate(ops):
                    indexed = self._index_charges(kind, op)
                    charges += indexed
                    owners += [n] * len(indexed)
                refused = limits.charge("transact_write_items", charges)
                throttled = [False] * len(ops)
                for owner, hit in zip(owners, refused, strict=True):
                    throttled[owner] = throttled[owner] or hit
                if any(throttled):
                    self._contention.count("transact_write_items:throttled")
                    self._contention.wait(self._contention.latency)
                    reasons = [{"Code": "ThrottlingError" if hit else "None"} for hit in throttled]
                    raise ClientError({"Error": {"Code": "TransactionCanceledException",
                                                 "Message": "Transaction cancelled, please refer cancellation "
                                                            "reasons"},
                                       "CancellationReasons": reasons},  # type: ignore[typeddict-item]
                                      "TransactWriteItems")
            self._contention.count("transact_write_items")
            self._contention.wait(self._contention.latency)
            with EMULATOR_LOCK:  # the items stay held for the round trip
                return self._client.transact_write_items(**kwargs)
        finally:
            self._contention.release(items)
