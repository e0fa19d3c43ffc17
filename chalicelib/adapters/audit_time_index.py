"""The audit table's time index: which run of ``seq`` holds every event of a time range.

Sealed events (``EVT#<seq>``) carry ``at`` = the chain's high-water mark and ``seq``
(``domain/audit_time.py``): the ``by_time`` index orders them as the chain does. Events the sealer found
stamped more than ``STAMP_LAG`` below the mark also get an item ``LAT#<at>#<seq>`` (no other attribute
than ``seq``: not in ``by_time``). Events chained before this index existed carry their own ``at``
(``cli audit reindex-times`` files them anew).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from chalicelib.adapters.audit_markers import tenant_pk
from chalicelib.adapters.dynamo_errors import translated
from chalicelib.domain.audit_time import LATE_PREFIX, STAMP_LAG, Indexed, late_key, seq_of_key, shifted

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

FIRST_TAIL_PAGE = 16  # the tail scan's first item nearly always answers: a small first page
TAIL_PAGE = 1000


class AuditTimeIndex:
    """Range look-ups on ``by_time`` and the late-event items."""

    def __init__(self, client: DynamoDBClient) -> None:
        self._client = client

    def seq_run(self, table: str, tenant_id: str, start: str | None, end: str | None,
                head: int) -> tuple[int, int] | None:
        """The shortest run of ``seq`` holding every event with ``start <= at < end`` (None: unbounded),
        starting and ending with such an event; ``head`` is the chain's last ``seq``. None when none is."""
        if head == 0:
            return None
        first = 1 if start is None else self._first_from(table, tenant_id, start)
        if first is None:
            return None
        if end is None:
            return first, head
        lower = start or ""
        last = max([self._last_before(table, tenant_id, lower, end, first),
                    *self._late(table, tenant_id, lower, end)])
        return (first, last) if last >= first else None

    def high_water(self, table: str, tenant_id: str) -> str:
        """The largest time the index holds for the tenant (for a chain whose head predates the mark)."""
        with translated("the audit trail"):
            items = self._client.query(**self._by_time(table, tenant_id, "#at <= :hi", {":hi": "~"}),
                                       ScanIndexForward=False, Limit=1).get("Items", [])
        return items[0]["at"]["S"].split("#", 1)[0] if items else ""

    @staticmethod
    def late_put(table: str, tenant_id: str, filed: Indexed) -> TransactWriteItemTypeDef:
        return {"Put": {"TableName": table, "Item": {
            "pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": late_key(filed.at, filed.seq)},
            "seq": {"N": str(filed.seq)}}}}

    def _first_from(self, table: str, tenant_id: str, start: str) -> int | None:
        """The first ``seq`` whose mark reaches ``start``: the first event stamped at or after it."""
        with translated("the audit trail"):
            items = self._client.query(**self._by_time(table, tenant_id, "#at >= :lo", {":lo": start}),
                                       ScanIndexForward=True, Limit=1).get("Items", [])
        return _seq(items[0]) if items else None

    def _last_before(self, table: str, tenant_id: str, start: str, end: str, first: int) -> int:
        """The last ``seq`` at or after ``first`` stamped in ``[start, end)`` among events chained within
        ``STAMP_LAG`` of their mark: they all have a mark below ``end + STAMP_LAG``; read downwards."""
        params = self._by_time(table, tenant_id, "#at < :hi", {":hi": shifted(end, STAMP_LAG)})
        limit = FIRST_TAIL_PAGE
        while True:
            with translated("the audit trail"):
                page = self._client.query(**params, ScanIndexForward=False, Limit=limit)
            for item in page.get("Items", []):
                event = json.loads(item["event"]["S"])
                if int(event["seq"]) < first:
                    return 0
                if start <= event["at"] < end:
                    return int(event["seq"])
            if not page.get("LastEvaluatedKey"):
                return 0
            params["ExclusiveStartKey"], limit = page["LastEvaluatedKey"], TAIL_PAGE

    def _late(self, table: str, tenant_id: str, start: str, end: str) -> list[int]:
        """``seq`` of the events indexed as late that are stamped in ``[start, end)``."""
        params: dict[str, Any] = {
            "TableName": table, "ProjectionExpression": "sk",
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :lo AND :hi",
            "ExpressionAttributeValues": {":pk": {"S": tenant_pk(tenant_id)}, ":lo": {"S": LATE_PREFIX + start},
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
    def _by_time(table: str, tenant_id: str, condition: str, values: dict[str, str]) -> dict[str, Any]:
        return {"TableName": table, "IndexName": "by_time",
                "KeyConditionExpression": f"tenant_id = :t AND {condition}",
                "ExpressionAttributeNames": {"#at": "at"},
                "ExpressionAttributeValues": {":t": {"S": tenant_id}, **{k: {"S": v} for k, v in values.items()}}}


def _seq(item: dict[str, Any]) -> int:
    return int(json.loads(item["event"]["S"])["seq"])
