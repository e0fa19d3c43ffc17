"""The audit table's time index: which run of ``seq`` holds every event of a time range.

Sealed events (``EVT#<seq>``) carry ``at`` = the chain's high-water mark and ``seq``
(``domain/audit/time_range.py``): the ``by_shard_time`` index (``pk``, ``at``) orders the events of each event
partition as the chain does, so the first (last) event of a range is the least (greatest) of each
partition's first (last): one short Query a partition (``domain/audit/layout.py``). Events the sealer found
stamped more than ``STAMP_LAG`` below the mark also get an item ``LAT#<at>#<seq>`` (no other attribute
than ``seq``: not in the index), in the event's partition. Events chained before this index existed keep
their own ``at`` as key: ranges reaching back to them are as complete as they were (docs/audit-time-ranges.md).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from chalicelib.adapters.audit_shards import ChainShards
from chalicelib.adapters.dynamo_errors import translated
from chalicelib.domain.audit.layout import tenant_pk
from chalicelib.domain.audit.time_range import LATE_PREFIX, STAMP_LAG, Indexed, late_key, seq_of_key, shifted

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

TIME_INDEX = "by_shard_time"
BEFORE_ALL = "0"  # sorts before every time (DynamoDB refuses an empty key value)
FIRST_PAGE = 16  # a scan's first item nearly always answers: a small first page
PAGE = 1000


class AuditTimeIndex:
    """Range look-ups on ``by_shard_time`` and the late-event items."""

    def __init__(self, client: DynamoDBClient, shards: ChainShards) -> None:
        self._client = client
        self._shards = shards

    def _partitions(self, table: str, tenant_id: str) -> list[str]:
        """Every partition holding sealed events of the tenant (the base one for a legacy trail)."""
        layout = self._shards.layout
        legacy = [tenant_pk(tenant_id)] if not layout.sharded or self._shards.has_legacy(table, tenant_id) else []
        return legacy + ([] if not layout.sharded else layout.all_event_pks(tenant_id))

    def seq_run(self, table: str, tenant_id: str, start: str | None, end: str | None,
                head: int) -> tuple[int, int] | None:
        """The shortest run of ``seq`` holding every event with ``start <= at < end`` (None: unbounded),
        starting and ending with such an event (without ``end``: ending at ``head``, the chain's last
        ``seq``); None when there is none."""
        if head == 0:
            return None
        pks = self._partitions(table, tenant_id)
        if end is None:
            first = 1 if start is None else self._least(table, pks, start, None)
            return None if first is None else (first, head)
        lower = start or BEFORE_ALL
        late = [seq for found in self._shards.concurrently(lambda pk: self._late(table, pk, lower, end), pks)
                for seq in found]
        first = self._least(table, pks, lower, end)
        if first is None and not late:
            return None
        first = min([*late, *([first] if first is not None else [])])
        lasts = self._shards.concurrently(
            lambda pk: self._scan(table, pk, lower, end, ascending=False, beyond=first), pks)
        return first, max([*late, *(last for last in lasts if last is not None)])

    def _least(self, table: str, pks: list[str], start: str, end: str | None) -> int | None:
        firsts = self._shards.concurrently(lambda pk: self._scan(table, pk, start, end, ascending=True), pks)
        return min((first for first in firsts if first is not None), default=None)

    def high_water(self, table: str, tenant_id: str) -> str:
        """The largest time the index holds for the tenant (for a chain whose head predates the mark, so
        written in the legacy layout: its events are in the base partition)."""
        with translated("the audit trail"):
            items = self._client.query(**self._by_time(table, tenant_pk(tenant_id), "#at <= :hi", {":hi": "~"}),
                                       ScanIndexForward=False, Limit=1).get("Items", [])
        return items[0]["at"]["S"].split("#", 1)[0] if items else ""

    @staticmethod
    def late_put(table: str, pk: str, filed: Indexed) -> TransactWriteItemTypeDef:
        """The late-event item of ``filed``, in partition ``pk`` (its event's)."""
        return {"Put": {"TableName": table, "Item": {
            "pk": {"S": pk}, "sk": {"S": late_key(filed.at, filed.seq)},
            "seq": {"N": str(filed.seq)}}}}

    def _scan(self, table: str, pk: str, start: str, end: str | None, *, ascending: bool,
              beyond: int = 0) -> int | None:
        """The first (or, descending, last) ``seq`` stamped in ``[start, end)`` among the events the time
        index alone covers, which all have a mark in ``[start, end + STAMP_LAG)``; the scan nearly always
        stops at its first item. ``beyond``: a descending scan stops below that ``seq``."""
        upper = "~" if end is None else shifted(end, STAMP_LAG)
        params = self._by_time(table, pk, "#at BETWEEN :lo AND :hi", {":lo": start, ":hi": upper})
        limit = FIRST_PAGE
        while True:
            with translated("the audit trail"):
                page = self._client.query(**params, ScanIndexForward=ascending, Limit=limit)
            for item in page.get("Items", []):
                event = json.loads(item["event"]["S"])
                if int(event["seq"]) < beyond:
                    return None
                if start <= event["at"] and (end is None or event["at"] < end):
                    return int(event["seq"])
            if not page.get("LastEvaluatedKey"):
                return None
            params["ExclusiveStartKey"], limit = page["LastEvaluatedKey"], PAGE

    def _late(self, table: str, pk: str, start: str, end: str) -> list[int]:
        """``seq`` of the events of partition ``pk`` indexed as late that are stamped in ``[start, end)``."""
        params: dict[str, Any] = {
            "TableName": table, "ProjectionExpression": "sk",
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :lo AND :hi",
            "ExpressionAttributeValues": {":pk": {"S": pk}, ":lo": {"S": LATE_PREFIX + start},
                                          ":hi": {"S": LATE_PREFIX + end}}}
        found: list[int] = []
        while True:
            with translated("the audit trail"):
                page = self._client.query(**params)
            found += [seq_of_key(item["sk"]["S"]) for item in page.get("Items", [])]
            if not page.get("LastEvaluatedKey"):
                return found
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    @staticmethod
    def _by_time(table: str, pk: str, condition: str, values: dict[str, str]) -> dict[str, Any]:
        return {"TableName": table, "IndexName": TIME_INDEX,
                "KeyConditionExpression": f"pk = :t AND {condition}",
                "ExpressionAttributeNames": {"#at": "at"},
                "ExpressionAttributeValues": {":t": {"S": pk}, **{k: {"S": v} for k, v in values.items()}}}

