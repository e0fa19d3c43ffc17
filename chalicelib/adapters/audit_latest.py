"""The newest sealed events of a tenant's chain that match, read from the head backwards.

The audit status and the activity chart read the summaries the seal keeps (``adapters/audit_summaries.py``);
a trail sealed before those began is read here, from below the first ``seq`` they cover. Reading backwards
stops at the first match of each kind.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from chalicelib.adapters.audit_shards import HEAD, ChainShards
from chalicelib.adapters.dynamo_errors import translated
from chalicelib.domain.audit.layout import tenant_pk

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

PAGE = 500


class AuditLatest:
    """Newest-first reads of the sealed events (``EVT#`` items) of one tenant's chain."""

    def __init__(self, client: DynamoDBClient, table_for: Callable[[str], str],
                 shards: ChainShards | None = None) -> None:
        self._client = client
        self._table_for = table_for
        self._shards = shards or ChainShards(client)

    def newest(self, tenant_id: str, jurisdiction: str, kinds: int,
               kind_of: Callable[[dict[str, Any]], str | None], top: int | None = None) -> dict[str, dict[str, Any]]:
        """kind -> the newest event (at or below ``top``) ``kind_of`` names that kind, stopping once ``kinds``
        kinds are found."""
        found: dict[str, dict[str, Any]] = {}
        for event in self.backwards(tenant_id, jurisdiction, top):
            kind = kind_of(event)
            if kind is not None and kind not in found:
                found[kind] = event
                if len(found) == kinds:
                    break
        return found

    def backwards(self, tenant_id: str, jurisdiction: str, top: int | None = None) -> Iterator[dict[str, Any]]:
        """The sealed events from the head (or ``top`` when below it) down, page by page (stop iterating to
        stop reading)."""
        table = self._table_for(jurisdiction)
        with translated("the audit trail"):
            head = self._client.get_item(TableName=table, ConsistentRead=True,
                                         Key={"pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": HEAD}}).get("Item")
        if head is None:
            return
        self._shards.note(table, tenant_id, head)
        last = int(head["seq"]["N"]) if top is None else min(top, int(head["seq"]["N"]))
        if last < 1:
            return
        for item in self._shards.backwards(table, tenant_id, last, projection="event", page=PAGE):
            yield json.loads(item["event"]["S"])
