"""The audit table's time index: which run of ``seq`` holds every event of a time range.

Sealed events (``EVT#<seq>``) carry ``at`` = the chain's high-water mark and ``seq``
(``domain/audit_time.py``): the ``by_time`` index orders them as the chain does. Events the sealer found
stamped more than ``STAMP_LAG`` below the mark also get an item ``LAT#<at>#<seq>`` (no other attribute
than ``seq``: not in ``by_time``). Events chained before this index existed keep their own ``at`` as
key: ranges reaching back to them are as complete as they were (docs/audit-time-ranges.md).
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

BEFORE_ALL = "0"  # sorts before every time (DynamoDB refuses an empty key value)
FIRST_PAGE = 16  # a scan's first item nearly always answers: a small first page
PAGE = 1000


class AuditTimeIndex:
    """Range look-ups on ``by_time`` and the late-event items."""

    def __init__(self, client: DynamoDBClient) -> None:
        self._client = client

    def seq_run(self, table: str, tenant_id: str, start: str | None, end: str | None,
                head: int) -> tuple[int, int] | None:
        """The shortest run of ``seq`` holding every event with ``start <= at < end`` (None: unbounded),
        starting and ending with such an event (without ``end``: ending at ``head``, the chain's last
        ``seq``); None when there is none."""
        if head == 0:
            return None
        if end is None:
            first = 1 if start is None else self._scan(table, tenant_id, start, None, ascending=True)
            return None if first is None else (first, head)
        lower = start or BEFORE_ALL
        late = self._late(table, tenant_id, lower, end)
        first = self._scan(table, tenant_id, lower, end, ascending=True)
        if first is None and not late:
            return None
        first = min([*late, *([first] if first is not None else [])])
        last = self._scan(table, tenant_id, lower, end, ascending=False, beyond=first)
        return first, max([*late, *([last] if last is not None else [])])

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

    def _scan(self, table: str, tenant_id: str, start: str, end: str | None, *, ascending: bool,
              beyond: int = 0) -> int | None:
        """The first (or, descending, last) ``seq`` stamped in ``[start, end)`` among the events the time
        index alone covers, which all have a mark in ``[start, end + STAMP_LAG)``; the scan nearly always
        stops at its first item. ``beyond``: a descending scan stops below that ``seq``."""
        upper = "~" if end is None else shifted(end, STAMP_LAG)
        params = self._by_time(table, tenant_id, "#at BETWEEN :lo AND :hi", {":lo": start, ":hi": upper})
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

