"""Webhook endpoints, their delivery queue and dead letters, in the jurisdiction's data table.

Items of the tenant's partition (``pk`` = ``TENANT#<tenant_id>``):
- ``WEBHOOK#<webhook_id>``: url, event types, times, and the secrets as KMS envelopes (never plaintext);
- ``WHD#<delivery_id>``: the delivery's record, put only if absent (an event published again enqueues
  nothing twice) with its state (queued, delivered, parked);
- ``WHQ#<due_at>#<delivery_id>``: a queued delivery; the sort key orders the queue by due time, so the due
  ones are one query (``due``). A retry moves it (delete and put, one transaction);
- ``WHDL#<delivery_id>``: a parked delivery (the dead-letter list), until replayed.
One item per tenant with endpoints in the ``WEBHOOKS`` partition tells the dispatcher which tenants to look at.
Identifiers, event types, times and bodies of ids and dates only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from chalicelib.adapters.data_store import DataStore, tenant_pk
from chalicelib.adapters.dynamo_errors import error_code, translated
from chalicelib.domain.webhooks import Delivery

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

ENDPOINT = "WEBHOOK#"
RECORD = "WHD#"
QUEUED = "WHQ#"
PARKED = "WHDL#"
REGISTRY_PK = "WEBHOOKS"


def _s(item: dict[str, Any], name: str) -> str | None:
    return item[name]["S"] if name in item else None


class WebhookStore:
    """Reads and writes endpoints and deliveries (each change conditional on what was read)."""

    def __init__(self, client: DynamoDBClient, data: DataStore) -> None:
        self._client = client
        self._data = data

    # ------------------------------------------------------------------ endpoints

    def endpoint_put(self, jurisdiction: str, tenant_id: str, item: dict[str, Any],
                     new: bool) -> TransactWriteItemTypeDef:
        """The put of an endpoint item (for the transaction of its audit event)."""
        values = {"pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": ENDPOINT + item["webhook_id"]},
                  "url": {"S": item["url"]}, "event_types": {"L": [{"S": t} for t in item["event_types"]]},
                  "created_at": {"S": item["created_at"]}, "secrets": {"L": [{"S": s} for s in item["secrets"]]}}
        for name in ("rotated_at", "previous_until"):
            if item.get(name):
                values[name] = {"S": item[name]}
        condition = "attribute_not_exists(sk)" if new else "attribute_exists(sk)"
        return {"Put": {"TableName": self._data.table(jurisdiction), "Item": values,
                        "ConditionExpression": condition}}

    def endpoint_delete(self, jurisdiction: str, tenant_id: str, webhook_id: str) -> TransactWriteItemTypeDef:
        return {"Delete": {"TableName": self._data.table(jurisdiction),
                           "Key": {"pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": ENDPOINT + webhook_id}},
                           "ConditionExpression": "attribute_exists(sk)"}}

    def registry_put(self, jurisdiction: str, tenant_id: str) -> TransactWriteItemTypeDef:
        """Names the tenant among those the dispatcher looks at (idempotent)."""
        return {"Put": {"TableName": self._data.table(jurisdiction),
                        "Item": {"pk": {"S": REGISTRY_PK}, "sk": {"S": tenant_pk(tenant_id)},
                                 "tenant_id": {"S": tenant_id}}}}

    def tenants_with_endpoints(self, jurisdiction: str) -> list[str]:
        return [item["tenant_id"]["S"] for item in self._query(jurisdiction, REGISTRY_PK, "TENANT#")]

    def endpoints(self, jurisdiction: str, tenant_id: str) -> list[dict[str, Any]]:
        """Every endpoint item of the tenant, as stored (secrets still sealed)."""
        return [self._endpoint(item) for item in self._query(jurisdiction, tenant_pk(tenant_id), ENDPOINT)]

    def endpoint(self, jurisdiction: str, tenant_id: str, webhook_id: str) -> dict[str, Any] | None:
        with translated("the webhook endpoints"):
            item = self._client.get_item(TableName=self._data.table(jurisdiction), ConsistentRead=True,
                                         Key={"pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": ENDPOINT + webhook_id}})
        return self._endpoint(item["Item"]) if "Item" in item else None

    @staticmethod
    def _endpoint(item: dict[str, Any]) -> dict[str, Any]:
        return {"webhook_id": item["sk"]["S"][len(ENDPOINT):], "url": item["url"]["S"],
                "event_types": [t["S"] for t in item["event_types"]["L"]], "created_at": item["created_at"]["S"],
                "secrets": [s["S"] for s in item["secrets"]["L"]], "rotated_at": _s(item, "rotated_at"),
                "previous_until": _s(item, "previous_until")}

    # ------------------------------------------------------------------ deliveries

    def enqueue(self, jurisdiction: str, tenant_id: str, delivery: Delivery) -> bool:
        """Queue a delivery unless one for this endpoint and event exists; False when it did."""
        table = self._data.table(jurisdiction)
        record: TransactWriteItemTypeDef = {"Put": {
            "TableName": table, "ConditionExpression": "attribute_not_exists(sk)",
            "Item": {"pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": RECORD + delivery.delivery_id},
                     "state": {"S": "queued"}, "event_id": {"S": delivery.event_id}}}}
        return self._transact([record, self._put(table, tenant_id, QUEUED, delivery)])

    def due(self, jurisdiction: str, tenant_id: str, now: str, limit: int = 25) -> list[Delivery]:
        """Queued deliveries due at ``now`` or before, earliest first."""
        with translated("the webhook queue"):
            items = self._client.query(
                TableName=self._data.table(jurisdiction), Limit=limit, ConsistentRead=True,
                KeyConditionExpression="pk = :pk AND sk BETWEEN :lo AND :hi",
                ExpressionAttributeValues={":pk": {"S": tenant_pk(tenant_id)}, ":lo": {"S": QUEUED},
                                           ":hi": {"S": f"{QUEUED}{now}~"}}).get("Items", [])
        return [self._delivery(item) for item in items]

    def reschedule(self, jurisdiction: str, tenant_id: str, was: Delivery, now: Delivery) -> bool:
        table = self._data.table(jurisdiction)
        return self._transact([self._delete(table, tenant_id, QUEUED, was), self._put(table, tenant_id, QUEUED, now)])

    def delivered(self, jurisdiction: str, tenant_id: str, was: Delivery) -> bool:
        table = self._data.table(jurisdiction)
        return self._transact([self._delete(table, tenant_id, QUEUED, was), self._state(table, tenant_id, was,
                                                                                       "delivered")])

    def park(self, jurisdiction: str, tenant_id: str, was: Delivery, parked: Delivery) -> bool:
        table = self._data.table(jurisdiction)
        return self._transact([self._delete(table, tenant_id, QUEUED, was),
                               self._put(table, tenant_id, PARKED, parked),
                               self._state(table, tenant_id, was, "parked")])

    def dead_letters(self, jurisdiction: str, tenant_id: str) -> list[Delivery]:
        return [self._delivery(item) for item in self._query(jurisdiction, tenant_pk(tenant_id), PARKED)]

    def dead_letter(self, jurisdiction: str, tenant_id: str, delivery_id: str) -> Delivery | None:
        with translated("the webhook dead letters"):
            item = self._client.get_item(TableName=self._data.table(jurisdiction), ConsistentRead=True,
                                         Key={"pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": PARKED + delivery_id}})
        return self._delivery(item["Item"]) if "Item" in item else None

    def replay_changes(self, jurisdiction: str, tenant_id: str, parked: Delivery,
                       queued: Delivery) -> list[TransactWriteItemTypeDef]:
        """The changes moving a parked delivery back to the queue (for the transaction of the replay's audit
        event; the first fails when it was replayed meanwhile)."""
        table = self._data.table(jurisdiction)
        return [self._delete(table, tenant_id, PARKED, parked), self._put(table, tenant_id, QUEUED, queued),
                self._state(table, tenant_id, parked, "queued")]

    # ------------------------------------------------------------------ items

    @staticmethod
    def _sk(prefix: str, delivery: Delivery) -> str:
        if prefix == QUEUED:
            return f"{prefix}{delivery.due_at}#{delivery.delivery_id}"
        return prefix + delivery.delivery_id

    def _put(self, table: str, tenant_id: str, prefix: str, delivery: Delivery) -> TransactWriteItemTypeDef:
        item: dict[str, Any] = {
            "pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": self._sk(prefix, delivery)},
            "delivery_id": {"S": delivery.delivery_id}, "webhook_id": {"S": delivery.webhook_id},
            "event_id": {"S": delivery.event_id}, "event_type": {"S": delivery.event_type},
            "body": {"S": delivery.body}, "due_at": {"S": delivery.due_at}, "attempts": {"N": str(delivery.attempts)}}
        for name in ("first_attempt_at", "last_status"):
            value = getattr(delivery, name)
            if value is not None:
                item[name] = {"S": value}
        return {"Put": {"TableName": table, "Item": item, "ConditionExpression": "attribute_not_exists(sk)"}}

    def _delete(self, table: str, tenant_id: str, prefix: str, delivery: Delivery) -> TransactWriteItemTypeDef:
        return {"Delete": {"TableName": table, "ConditionExpression": "attribute_exists(sk)",
                           "Key": {"pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": self._sk(prefix, delivery)}}}}

    @staticmethod
    def _state(table: str, tenant_id: str, delivery: Delivery, state: str) -> TransactWriteItemTypeDef:
        return {"Update": {"TableName": table, "UpdateExpression": "SET #s = :s",
                           "ExpressionAttributeNames": {"#s": "state"},
                           "ExpressionAttributeValues": {":s": {"S": state}},
                           "Key": {"pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": RECORD + delivery.delivery_id}}}}

    @staticmethod
    def _delivery(item: dict[str, Any]) -> Delivery:
        return Delivery(delivery_id=item["delivery_id"]["S"], webhook_id=item["webhook_id"]["S"],
                        event_id=item["event_id"]["S"], event_type=item["event_type"]["S"], body=item["body"]["S"],
                        due_at=item["due_at"]["S"], attempts=int(item["attempts"]["N"]),
                        first_attempt_at=_s(item, "first_attempt_at"), last_status=_s(item, "last_status"))

    def _query(self, jurisdiction: str, pk: str, prefix: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        start: dict[str, Any] | None = None
        while True:
            extra: dict[str, Any] = {"ExclusiveStartKey": start} if start else {}
            with translated("the webhook records"):
                page = self._client.query(TableName=self._data.table(jurisdiction), ConsistentRead=True,
                                          KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
                                          ExpressionAttributeValues={":pk": {"S": pk}, ":p": {"S": prefix}}, **extra)
            items += page.get("Items", [])
            start = page.get("LastEvaluatedKey")
            if not start:
                return items

    def _transact(self, items: list[TransactWriteItemTypeDef]) -> bool:
        """Apply ``items`` together; False when a condition failed (someone else did it first)."""
        try:
            with translated("the webhook queue"):
                self._client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if error_code(exc) != "TransactionCanceledException":
                raise
            return False
        return True
