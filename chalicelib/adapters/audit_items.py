"""The audit table's items as the audit store writes them (``audit_store.py``): a landed event (``PND#``),
and the items of a seal's transaction, per event its chain event (``EVT#``), its marker marked sealed and
its landed record (``LND#``, ``audit_markers.py``), then the chain's head (``HEAD``).

Every condition is on the item written, so a seal that lost a race, or chains an event id already chained,
is cancelled whole (the cancellation reasons say which item).
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, cast

from chalicelib.adapters.audit_markers import PENDING, event_sk, landed_put, tenant_pk
from chalicelib.domain.audit_pending import landed_digest
from chalicelib.domain.audit_stream import PENDING_PREFIX

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import PutTypeDef, TransactWriteItemTypeDef

HEAD = "HEAD"
PER_EVENT = 3
"""Items of a seal's transaction per event: the event, its marker, its landed record (in this order)."""
LANDED_RECORD = 2
"""The landed record's index among an event's items (a refusal there: the event id is chained already)."""


def pending_put(table: str, jurisdiction: str, pending: dict[str, Any]) -> TransactWriteItemTypeDef:
    """A landed event, put only if absent."""
    return {"Put": {
        "TableName": table,
        "Item": {
            "pk": {"S": tenant_pk(pending["tenant_id"])},
            "sk": {"S": PENDING_PREFIX + pending["event_id"]},
            "tenant_id": {"S": pending["tenant_id"]},
            "jurisdiction": {"S": jurisdiction},
            "pending": {"S": json.dumps(pending, separators=(",", ":"), ensure_ascii=False)},
        },
        "ConditionExpression": "attribute_not_exists(pk)",
    }}


def seal_items(table: str, tenant_id: str, jurisdiction: str, batch: list[dict[str, Any]],
               events: list[dict[str, Any]], last_event_id: str) -> list[TransactWriteItemTypeDef]:
    """The transaction that chains ``batch`` (pending events) as ``events``, after the head they extend."""
    first_seq = events[0]["seq"] - 1
    items: list[TransactWriteItemTypeDef] = []
    for pending, event in zip(batch, events, strict=True):
        items.append(event_put(table, tenant_id, event))
        items.append({"Update": {  # marked, not deleted: the audit table stays append-only (no DeleteItem)
            "TableName": table,
            "Key": {"pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": PENDING_PREFIX + pending["event_id"]}},
            "UpdateExpression": "REMOVE pending SET sealed_seq = :seq",
            "ConditionExpression": PENDING,
            "ExpressionAttributeValues": {":seq": {"N": str(event["seq"])}}}})
        items.append({"Put": cast("PutTypeDef", landed_put(  # only if absent: never chained twice
            table, tenant_id, jurisdiction, str(pending["event_id"]), landed_digest(pending), int(event["seq"])))})
    items.append(head_update(table, tenant_id, first_seq, events[-1], last_event_id))
    return items


def head_update(table: str, tenant_id: str, seq: int, event: dict[str, Any],
                last_event_id: str) -> TransactWriteItemTypeDef:
    """The head moved from ``seq`` to ``event``, only if it is still at ``seq``."""
    condition = "attribute_not_exists(pk)" if seq == 0 else "#seq = :prev"
    values: dict[str, Any] = {":seq": {"N": str(event["seq"])}, ":hash": {"S": event["hash"]},
                              ":last": {"S": last_event_id}}
    if seq:
        values[":prev"] = {"N": str(seq)}
    return {"Update": {
        "TableName": table,
        "Key": {"pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": HEAD}},
        "UpdateExpression": "SET #seq = :seq, #hash = :hash, last_event_id = :last",
        "ConditionExpression": condition,
        "ExpressionAttributeNames": {"#seq": "seq", "#hash": "hash"},
        "ExpressionAttributeValues": values,
    }}


def event_put(table: str, tenant_id: str, event: dict[str, Any]) -> TransactWriteItemTypeDef:
    """A chain event, put only if its ``seq`` is free."""
    return {"Put": {
        "TableName": table,
        "Item": {
            "pk": {"S": tenant_pk(tenant_id)},
            "sk": {"S": event_sk(event["seq"])},
            "tenant_id": {"S": tenant_id},
            "at": {"S": event["at"]},
            "event": {"S": json.dumps(event, separators=(",", ":"), ensure_ascii=False)},
        },
        "ConditionExpression": "attribute_not_exists(pk)",
    }}
