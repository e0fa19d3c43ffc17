"""The emulator's DynamoDB Query on a table's key costs O(log partition + items returned), as DynamoDB's.

moto sorts the whole table and sizes every item of the partition on every Query, and even a filter of
the partition costs O(partition) (a tenant's partition holds all its learners). Each partition keeps its
range keys sorted (``SortedPartition``, maintained on every put and delete), so a Query finds its range
by bisection. The items found and their order are those of moto's own code, which still runs, given
the items of the range. A Query on a secondary index has no partition to bisect (moto keeps no index):
the table's items are sifted once for the index's key values, by plain comparisons of the stored values,
and moto's own code runs on what matched (it compares every item's attributes as ``DynamoType``s, ~5 us an
item: 0.3 s a Query on a table of 60,000 items). ``devtools.emulator.install`` applies it.
"""

from __future__ import annotations

import bisect
import inspect
import itertools
import threading
from collections import defaultdict
from typing import Any

from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table


class SortedPartition(dict[Any, Any]):
    """One partition's items by range key (moto's plain dict), with the range keys also kept in order."""

    _order: list[Any] | None = None  # class default: pickle and deepcopy fill the dict before any __init__

    def __getstate__(self) -> dict[str, Any]:
        return {}  # the order is rebuilt on first use (snapshots stay as small as moto's own dicts)

    def ordered_keys(self) -> list[Any]:
        if self._order is None:
            self._order = sorted(dict.keys(self))
        return self._order

    def __setitem__(self, key: Any, value: Any) -> None:
        if self._order is not None and not dict.__contains__(self, key):
            bisect.insort(self._order, key)
        dict.__setitem__(self, key, value)

    def __delitem__(self, key: Any) -> None:
        dict.__delitem__(self, key)
        self._forget(key)

    def pop(self, key: Any, *default: Any) -> Any:
        if dict.__contains__(self, key):
            value = dict.pop(self, key)
            self._forget(key)
            return value
        return dict.pop(self, key, *default)

    def _forget(self, key: Any) -> None:
        if self._order is not None:
            at = bisect.bisect_left(self._order, key)
            if at < len(self._order) and self._order[at] == key:
                del self._order[at]
            else:
                self._order = None

    def _reset(self) -> None:
        self._order = None

    def clear(self) -> None:
        self._reset()
        dict.clear(self)

    def popitem(self) -> tuple[Any, Any]:
        self._reset()
        return dict.popitem(self)

    def update(self, *args: Any, **kwargs: Any) -> None:
        self._reset()
        dict.update(self, *args, **kwargs)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        self._reset()
        return dict.setdefault(self, key, default)


def _partition(table: Table, hash_key: Any) -> SortedPartition | None:
    partition = table.items.get(hash_key)  # get: the defaultdict gains no empty partition
    if partition is not None and not isinstance(partition, SortedPartition):  # a snapshot from before the patch
        table.items = defaultdict(SortedPartition, {key: SortedPartition(value) for key, value in table.items.items()})
        partition = table.items[hash_key]
    return partition if isinstance(partition, SortedPartition) or partition is None else None


LOWER_BOUND = {"EQ": bisect.bisect_left, "=": bisect.bisect_left, "GE": bisect.bisect_left,
               ">=": bisect.bisect_left, "BETWEEN": bisect.bisect_left, "BEGINS_WITH": bisect.bisect_left,
               "GT": bisect.bisect_right, ">": bisect.bisect_right}
FROM_START = {"LT", "<", "LE", "<="}


def _range(partition: SortedPartition, comparison: str | None, operands: list[Any], after: Any = None,
           limit: int | None = None) -> list[Any]:
    """The partition's items whose range key meets the condition, in range-key order (a contiguous run).

    Forward pages: ``after`` (the ExclusiveStartKey's range key) skips what earlier pages returned, and
    ``limit`` stops one item past the page (moto's own code then sets LastEvaluatedKey), so a paged
    Query costs its page, not the whole range."""
    keys = partition.ordered_keys()
    operator = (comparison or "").upper()
    if not comparison or operator in FROM_START:
        start = 0
    elif operator in LOWER_BOUND and operands and operands[0].type in ("S", "N"):
        start = LOWER_BOUND[operator](keys, operands[0])
    else:
        return sorted((item for item in partition.values() if item.range_key.compare(comparison, operands)),
                      key=lambda item: item.range_key)
    if after is not None:
        start = max(start, bisect.bisect_right(keys, after))
    found = []
    for key in itertools.islice(keys, start, None):
        item = partition[key]
        if comparison and not item.range_key.compare(comparison, operands):
            break
        found.append(item)
        if limit is not None and len(found) > limit:
            break
    return found


def sorted_partitions() -> None:
    """New tables keep each partition's range keys in order."""
    original = Table.__init__

    def init(self: Table, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        if self.range_key_attr:
            self.items = defaultdict(SortedPartition)

    Table.__init__ = init  # type: ignore[method-assign]


_QUERYING = threading.local()  # (table, items) of the query this thread runs: clients in threads may race in-process


def partition_queries(lock: threading.RLock) -> None:
    """Make ``Table.query`` on the table's own key see only the queried range of its partition (under ``lock``)."""
    original = Table.query
    signature = inspect.signature(original)

    def query(self: Table, *args: Any, **kwargs: Any) -> Any:
        with lock:  # re-entrant; also holds when a client was not serialised (a test's own thread)
            return partition_query(self, *args, **kwargs)

    def partition_query(self: Table, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs)
        hash_key = bound.arguments.get("hash_key")
        if bound.arguments.get("index_name"):
            return _index_query(self, bound.arguments.get("hash_key_conditions") or [], original, args, kwargs)
        if hash_key is None or not self.range_key_attr:
            return original(self, *args, **kwargs)
        partition = _partition(self, hash_key)
        start_key, limit = bound.arguments.get("exclusive_start_key"), bound.arguments.get("limit")
        forward = bound.arguments.get("scan_index_forward") is not False
        after = DynamoType(start_key[self.range_key_attr]) if start_key and forward else None
        items = [] if partition is None else _range(partition, bound.arguments.get("range_comparison"),
                                                    bound.arguments.get("range_objs") or [], after,
                                                    limit if forward and isinstance(limit, int) else None)
        _QUERYING.table, _QUERYING.items = self, items
        try:
            return original(self, *args, **kwargs)
        finally:
            _QUERYING.table = _QUERYING.items = None

    def _index_query(self: Table, conditions: list[tuple[str, DynamoType]], original: Any, args: Any,
                     kwargs: Any) -> Any:
        """moto's index Query over only the items whose attributes equal the Query's index key values."""
        wanted = [(name, value.type, value.value) for name, value in conditions]
        if not wanted:
            return original(self, *args, **kwargs)
        _QUERYING.table, _QUERYING.items = self, [item for item in _every_item(self) if _matches(item, wanted)]
        try:
            return original(self, *args, **kwargs)
        finally:
            _QUERYING.table = _QUERYING.items = None

    original_all_items = Table.all_items

    def all_items(self: Table) -> list[Any]:
        """The range a query of this thread found, while it runs; else moto's whole table."""
        if getattr(_QUERYING, "table", None) is self:
            found: list[Any] = _QUERYING.items
            return found
        return original_all_items(self)

    Table.query = query  # type: ignore[method-assign]
    Table.all_items = all_items  # type: ignore[method-assign]


def _every_item(table: Table) -> Any:
    """Every item of the table, as moto holds them (partitions of items, or items by hash key)."""
    if table.range_key_attr:
        return (item for partition in table.items.values() for item in partition.values())
    return iter(table.items.values())


def _matches(item: Any, wanted: list[tuple[str, str, Any]]) -> bool:
    attrs = getattr(item, "attrs", None)
    if attrs is None:
        return False
    for name, kind, value in wanted:
        found = attrs.get(name)
        if found is None or found.type != kind or found.value != value:
            return False
    return True
