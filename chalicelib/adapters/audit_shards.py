"""Reads of a tenant's sealed events across the audit table's partitions (``domain/audit/layout.py``).

A chain written before the sharded layout keeps its items where they were (``TENANT#<id>``): the head
records the first ``seq`` sealed under the sharded layout (``sharded_from``, set by the first seal that
uses it: the head's ``seq`` + 1 then, 1 for a new chain). Below it an event is read from the tenant's base
partition, from it on from its event shard; a range read queries each partition that holds part of it and
merges them in ``seq`` order, a page at a time (constant memory). No item is copied or moved: the table
stays append-only, and a trail exported before the change verifies as it did.

A read over many partitions (32 event shards, 64 marker shards) asks for the first page of every partition
at once, from a small pool of threads this object owns (boto3 clients are thread-safe), instead of one
round trip after another; later pages are read as the merge consumes them.
"""
from __future__ import annotations

import heapq
import json
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from chalicelib.adapters.dynamo_errors import translated
from chalicelib.domain.audit.layout import ALWAYS, SHARDED, AuditLayout, tenant_pk

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

HEAD = "HEAD"
SHARD_PAGE = 128
"""Items a page of one shard's range query holds: the merge holds one page per shard (32 x 128 events)."""
READERS = 8
"""Queries of one multi-partition read in flight at once (botocore's connection pool holds 10)."""
T = TypeVar("T")
R = TypeVar("R")


def event_sk(seq: int) -> str:
    return f"EVT#{seq:012d}"


def sharded_from(item: dict[str, Any] | None, layout: AuditLayout) -> int:
    """The first ``seq`` of the sharded layout for a chain whose head item is ``item`` (None: no chain yet).
    A head without the mark belongs to a chain written wholly in the legacy layout: the next seal marks it."""
    if not layout.sharded:
        return ALWAYS
    if item is None:
        return 1
    if "sharded_from" in item:
        return int(item["sharded_from"]["N"])
    return int(item["seq"]["N"]) + 1


class ChainShards:
    """Where a tenant's sealed events are, and range reads over them in ``seq`` order."""

    def __init__(self, client: DynamoDBClient, layout: AuditLayout = SHARDED) -> None:
        self._client = client
        self.layout = layout
        self._from: dict[tuple[str, str], int] = {}  # (table, tenant) -> sharded_from, once a head was seen
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def _readers(self) -> ThreadPoolExecutor:
        """The pool of reader threads, started on first use (a process that never reads starts none)."""
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=READERS, thread_name_prefix="audit-shards")
            return self._pool

    def concurrently(self, call: Callable[[T], R], args: Iterable[T]) -> list[R]:
        """``[call(arg) for arg in args]``, the calls running side by side; the first error is raised."""
        todo = list(args)
        if len(todo) < 2:
            return [call(arg) for arg in todo]
        return list(self._readers().map(call, todo))

    def queries(self, requests: list[dict[str, Any]]) -> list[Iterator[dict[str, Any]]]:
        """The items of each Query in ``requests``, page after page. The first page of every query is asked
        for at once, when the first item of any of them is wanted (not before: a read sees the table as it
        is when it starts); each later page when its stream reaches it."""
        first: list[Future[dict[str, Any]]] = []

        def page_one(index: int) -> dict[str, Any]:
            if not first:
                if len(requests) < 2:
                    return self._query(dict(requests[index]))
                first.extend(self._readers().submit(self._query, dict(params)) for params in requests)
            return first[index].result()

        return [self._follow(dict(params), partial(page_one, index)) for index, params in enumerate(requests)]

    def _query(self, params: dict[str, Any]) -> dict[str, Any]:
        with translated("the audit trail"):
            return dict(self._client.query(**params))

    def _follow(self, params: dict[str, Any], first: Callable[[], dict[str, Any]]) -> Iterator[dict[str, Any]]:
        answer = first()
        while True:
            yield from answer.get("Items", [])
            if not answer.get("LastEvaluatedKey"):
                return
            params["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
            answer = self._query(params)

    def note(self, table: str, tenant_id: str, head: dict[str, Any] | None) -> int:
        """Remember the mark a head item read elsewhere gives; return it. The mark of a chain never moves
        once it has a head (the first sharded seal writes the value a head without it implies)."""
        mark = sharded_from(head, self.layout)
        if head is not None:
            self._from[(table, tenant_id)] = mark
        return mark

    def boundary(self, table: str, tenant_id: str) -> int:
        """``sharded_from`` of the tenant's chain (one consistent read of the head, then remembered)."""
        if not self.layout.sharded:
            return ALWAYS
        known = self._from.get((table, tenant_id))
        if known is not None:
            return known
        with translated("the audit trail"):
            item = self._client.get_item(TableName=table, ConsistentRead=True,
                                         Key={"pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": HEAD}}).get("Item")
        return self.note(table, tenant_id, item)

    def has_legacy(self, table: str, tenant_id: str) -> bool:
        """Whether part of the tenant's trail (its first events, markers that landed then) is in the legacy
        layout, so look-ups by key must try the base partition too."""
        return self.layout.sharded and self.boundary(table, tenant_id) > 1

    def event_key(self, table: str, tenant_id: str, seq: int) -> dict[str, Any]:
        return {"pk": {"S": self.layout.event_pk(tenant_id, seq, self.boundary(table, tenant_id))},
                "sk": {"S": event_sk(seq)}}

    def events(self, table: str, tenant_id: str, first: int, last: int | None, *, consistent: bool = False,
               page: int | None = None) -> Iterator[dict[str, Any]]:
        """The event items ``first``..``last`` (None: to the end) in ``seq`` order, merged over shards."""
        mark = self.boundary(table, tenant_id)
        pks = self.layout.event_pks(tenant_id, first, last, mark)
        size = page if page is not None or len(pks) == 1 else SHARD_PAGE
        if len(pks) == 1:
            return self._pages(table, pks[0], first, last, consistent=consistent, page=size)
        streams = self.queries([self._range(table, pk, first, last, consistent=consistent, page=size) for pk in pks])
        return heapq.merge(*streams, key=lambda item: str(item["sk"]["S"]))

    def backwards(self, table: str, tenant_id: str, top: int, projection: str | None = None,
                  page: int = 500) -> Iterator[dict[str, Any]]:
        """The event items from ``top`` down to 1, a block (one Query) at a time, then the legacy part."""
        mark = self.boundary(table, tenant_id)
        seq = top
        while seq >= max(mark, 1) and self.layout.sharded:
            low = max(mark, ((seq - 1) // self.layout.block) * self.layout.block + 1)
            pk = self.layout.event_pk(tenant_id, seq, mark)
            yield from self._pages(table, pk, low, seq, descending=True, projection=projection, page=page)
            seq = low - 1
        if seq >= 1:
            yield from self._pages(table, tenant_pk(tenant_id), 1, seq, descending=True, projection=projection,
                                   page=page)

    def _pages(self, table: str, pk: str, low: int, high: int | None, *, descending: bool = False,
               consistent: bool = False, projection: str | None = None,
               page: int | None = None) -> Iterator[dict[str, Any]]:
        params = self._range(table, pk, low, high, descending=descending, consistent=consistent,
                             projection=projection, page=page)
        return self._follow(params, lambda: self._query(params))

    @staticmethod
    def _range(table: str, pk: str, low: int, high: int | None, *, descending: bool = False,
               consistent: bool = False, projection: str | None = None, page: int | None = None) -> dict[str, Any]:
        """The Query of the events ``low``..``high`` (None: to the end) of partition ``pk``."""
        params: dict[str, Any] = {
            "TableName": table, "ScanIndexForward": not descending,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :lo AND :hi",
            "ExpressionAttributeValues": {":pk": {"S": pk}, ":lo": {"S": event_sk(low)},
                                          ":hi": {"S": event_sk(high) if high is not None else "EVT#~"}}}
        if consistent:
            params["ConsistentRead"] = True
        if projection:
            params["ProjectionExpression"] = projection
        if page:
            params["Limit"] = page
        return params


def event_of(item: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(item["event"]["S"]))
