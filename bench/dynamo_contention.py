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
"""
from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from devtools.emulator import EMULATOR_LOCK

Identity = tuple[str, str, str]


def _identity(operation: dict[str, Any], kind: str) -> Identity:
    key = operation["Item"] if kind == "Put" else operation["Key"]
    return operation["TableName"], key["pk"]["S"], key.get("sk", {}).get("S", "")


class Contention:
    """The items held by in-flight transactions, and a count of calls and conflicts."""

    def __init__(self, latency: float = 0.010, sleep: Callable[[float], None] = time.sleep) -> None:
        self.latency = latency
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
        self._contention.count(name)
        self._contention.wait(self._contention.latency)
        with EMULATOR_LOCK:
            return getattr(self._client, name)(**kwargs)

    def get_item(self, **kwargs: Any) -> Any:
        return self._call("get_item", **kwargs)

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
            return self._call("transact_write_items", **kwargs)  # the items stay held for the round trip
        finally:
            self._contention.release(items)
