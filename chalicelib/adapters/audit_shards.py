"""Reads of a tenant's sealed events across the audit table's partitions (``domain/audit/layout.py``).

A chain written before the sharded layout keeps its items where they were (``TENANT#<id>``): the head
records the first ``seq`` sealed under the sharded layout (``sharded_from``, set by the first seal that
uses it: the head's ``seq`` + 1 then, 1 for a new chain). Below it an event is read from the tenant's base
partition, from it on from its event shard; a range read queries each partition that holds part of it and
merges them in ``seq`` order, a page at a time (constant memory). No item is copied or moved: the table
stays append-only, and a trail exported before the change verifies as it did.
"""
from __future__ import annotations

import heapq
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from chalicelib.adapters.dynamo_errors import translated
from chalicelib.domain.audit.layout import ALWAYS, SHARDED, AuditLayout, tenant_pk

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

HEAD = "HEAD"
SHARD_PAGE = 128
"""Items a page of one shard's range query holds: the merge holds one page per shard (32 x 128 events)."""


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
        streams = [self._pages(table, pk, first, last, consistent=consistent, page=size) for pk in pks]
        if len(streams) == 1:
            return streams[0]
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
        while True:
            with translated("the audit trail"):
                answer = self._client.query(**params)
            yield from answer.get("Items", [])
            if not answer.get("LastEvaluatedKey"):
                return
            params["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


def event_of(item: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(item["event"]["S"]))
