"""The raw keys of a tenant's audit items, for tests that read or tamper with the table directly.

A tenant created in a test has its whole trail in the sharded layout (``domain/audit/layout.py``): sealed
events in event shards by ``seq``, markers and landed records in marker shards by event id.
"""
from __future__ import annotations

from typing import Any

from chalicelib.domain.audit.layout import SHARDED, tenant_pk


def event_key(tenant_id: str, seq: int) -> dict[str, Any]:
    return {"pk": {"S": SHARDED.event_pk(tenant_id, seq, 1)}, "sk": {"S": f"EVT#{seq:012d}"}}


def marker_key(tenant_id: str, event_id: str, prefix: str = "PND#") -> dict[str, Any]:
    """The key of ``event_id``'s pending marker (``PND#``) or landed record (``LND#``)."""
    return {"pk": {"S": SHARDED.marker_pk(tenant_id, event_id)}, "sk": {"S": prefix + event_id}}


def partitions(tenant_id: str) -> list[str]:
    """Every partition key the tenant's audit items can have."""
    return [tenant_pk(tenant_id), *SHARDED.all_event_pks(tenant_id), *SHARDED.marker_pks(tenant_id)]


def tenant_items(client: Any, table: str, tenant_id: str, prefix: str) -> list[dict[str, Any]]:
    """Every item of the tenant whose sort key starts with ``prefix``, in sort-key order."""
    found: list[dict[str, Any]] = []
    for pk in partitions(tenant_id):
        params: dict[str, Any] = {"TableName": table, "ConsistentRead": True,
                                  "KeyConditionExpression": "pk = :p AND begins_with(sk, :s)",
                                  "ExpressionAttributeValues": {":p": {"S": pk}, ":s": {"S": prefix}}}
        while True:
            page = client.query(**params)
            found += page.get("Items", [])
            if not page.get("LastEvaluatedKey"):
                break
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return sorted(found, key=lambda item: str(item["sk"]["S"]))
