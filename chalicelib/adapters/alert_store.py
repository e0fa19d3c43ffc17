"""The alerts' ledger, the users' inboxes and notification preferences, in the home jurisdiction's data table.

Items (identifiers, dates and counts only; an alert's JSON is ``Alert.to_json``):
- ``pk`` = ``ALERT#<alert_id>``: the ledger. ``sk`` = ``TO#<sub>`` is claimed with a conditional put before
  that user is told, so a second run, or two runs at once, tell nobody twice; a failed e-mail marks it
  ``retry_mail`` (the next run claims that mark and sends the e-mail only). ``sk`` = ``SENT`` is put once
  the alert's audience was gone through (a later run then skips the alert after one read).
- ``pk`` = ``INBOX#<sub>``, ``sk`` = ``I#<raised_at>#<alert_id>``: one alert in one user's inbox, ``unread``
  while not read (put only if absent: a retried run leaves a read item read).
- ``pk`` = ``NOTIFY#<sub>``, ``sk`` = ``PREFS``: the user's choices.
- ``pk`` = ``ALERTSCAN#<tenant_id>``, ``sk`` = ``CURSOR``: the last audit ``seq`` the job has looked at.
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from chalicelib.adapters.data_store import DataStore
from chalicelib.adapters.dynamo_errors import error_code, translated
from chalicelib.domain.alerts import Alert, Preferences
from chalicelib.domain.errors import BadRequest

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

INBOX_PAGE = 100


def _json(doc: dict[str, Any]) -> str:
    return json.dumps(doc, separators=(",", ":"), sort_keys=True)


def inbox_id(sk: str) -> str:
    """The opaque id of an inbox item (its sort key, base64url)."""
    return base64.urlsafe_b64encode(sk.encode()).decode().rstrip("=")


def inbox_sk(item_id: str) -> str:
    """The sort key an id of ``inbox_id`` names; 400 for anything else."""
    try:
        sk = base64.urlsafe_b64decode(item_id + "=" * (-len(item_id) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("an inbox id is not one this API returned") from None
    if not sk.startswith("I#") or len(sk) > 120 or not sk.isprintable():
        raise BadRequest("an inbox id is not one this API returned")
    return sk


class AlertStore:
    def __init__(self, client: DynamoDBClient, store: DataStore, jurisdiction: str) -> None:
        self._client = client
        self._store = store
        self._jurisdiction = jurisdiction

    @property
    def _table(self) -> str:
        return self._store.table(self._jurisdiction)

    def _put_new(self, item: dict[str, Any]) -> bool:
        """Put ``item`` unless its key exists; whether it was put."""
        try:
            with translated("the data store"):
                self._client.put_item(TableName=self._table, Item=item,
                                      ConditionExpression="attribute_not_exists(pk)")
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def told(self, alert: Alert) -> bool:
        """Whether the alert's audience was gone through already (a finished alert costs one read)."""
        with translated("the data store"):
            item = self._client.get_item(TableName=self._table, ConsistentRead=True,
                                         Key={"pk": {"S": f"ALERT#{alert.alert_id}"}, "sk": {"S": "SENT"}})
        return "Item" in item

    def claim(self, alert: Alert, sub: str, claimed_at: str) -> str | None:
        """Claim telling ``sub`` of ``alert``: ``"new"``, ``"retry"`` (only the e-mail failed before), or None
        when they were (or are being) told already."""
        key = {"pk": {"S": f"ALERT#{alert.alert_id}"}, "sk": {"S": f"TO#{sub}"}}
        if self._put_new({**key, "claimed_at": {"S": claimed_at}}):
            return "new"
        try:
            with translated("the data store"):
                self._client.update_item(TableName=self._table, Key=key, UpdateExpression="REMOVE retry_mail",
                                         ConditionExpression="attribute_exists(retry_mail)")
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return None
            raise
        return "retry"

    def release(self, alert: Alert, sub: str) -> None:
        """The e-mail to ``sub`` failed: the next run sends it (their inbox has the alert already)."""
        with translated("the data store"):
            self._client.update_item(TableName=self._table,
                                     Key={"pk": {"S": f"ALERT#{alert.alert_id}"}, "sk": {"S": f"TO#{sub}"}},
                                     UpdateExpression="SET retry_mail = :one",
                                     ExpressionAttributeValues={":one": {"S": "1"}})

    def finish(self, alert: Alert, finished_at: str) -> bool:
        """Record that the alert's audience was gone through; False when another run did first."""
        return self._put_new({"pk": {"S": f"ALERT#{alert.alert_id}"}, "sk": {"S": "SENT"},
                              "finished_at": {"S": finished_at}, "doc": {"S": _json(alert.to_json())}})

    def deliver(self, sub: str, alert: Alert) -> None:
        """Put ``alert`` into the user's inbox, unread (a second delivery changes nothing)."""
        self._put_new({"pk": {"S": f"INBOX#{sub}"}, "sk": {"S": f"I#{alert.raised_at}#{alert.alert_id}"},
                       "unread": {"S": "1"}, "doc": {"S": _json(alert.to_json())}})

    def inbox(self, sub: str, unread_only: bool) -> list[dict[str, Any]]:
        """The user's newest inbox items (at most ``INBOX_PAGE``), newest first, each with ``id`` and ``read``."""
        params: dict[str, Any] = {
            "TableName": self._table, "KeyConditionExpression": "pk = :pk", "ScanIndexForward": False,
            "ExpressionAttributeValues": {":pk": {"S": f"INBOX#{sub}"}}, "Limit": INBOX_PAGE}
        if unread_only:
            params["FilterExpression"] = "attribute_exists(unread)"
        with translated("the data store"):
            items = self._client.query(**params).get("Items", [])
        return [{"id": inbox_id(item["sk"]["S"]), "read": "unread" not in item, **json.loads(item["doc"]["S"])}
                for item in items]

    def unread(self, sub: str) -> int:
        params: dict[str, Any] = {
            "TableName": self._table, "KeyConditionExpression": "pk = :pk", "Select": "COUNT",
            "FilterExpression": "attribute_exists(unread)", "ExpressionAttributeValues": {":pk": {"S": f"INBOX#{sub}"}}}
        count = 0
        while True:
            with translated("the data store"):
                page = self._client.query(**params)
            count += page.get("Count", 0)
            if "LastEvaluatedKey" not in page:
                return count
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def mark_read(self, sub: str, sk: str) -> dict[str, Any] | None:
        """Mark one item read; its alert, or None when the user has no such item."""
        try:
            with translated("the data store"):
                answer = self._client.update_item(
                    TableName=self._table, Key={"pk": {"S": f"INBOX#{sub}"}, "sk": {"S": sk}},
                    UpdateExpression="REMOVE unread", ConditionExpression="attribute_exists(pk)",
                    ReturnValues="ALL_NEW")
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return None
            raise
        doc: dict[str, Any] = json.loads(answer["Attributes"]["doc"]["S"])
        return doc

    def preferences(self, sub: str) -> Preferences:
        with translated("the data store"):
            item = self._client.get_item(TableName=self._table,
                                         Key={"pk": {"S": f"NOTIFY#{sub}"}, "sk": {"S": "PREFS"}}).get("Item")
        return Preferences.from_json(json.loads(item["doc"]["S"])) if item else Preferences()

    def save_preferences(self, sub: str, preferences: Preferences, updated_at: str) -> None:
        with translated("the data store"):
            self._client.put_item(TableName=self._table, Item={
                "pk": {"S": f"NOTIFY#{sub}"}, "sk": {"S": "PREFS"}, "updated_at": {"S": updated_at},
                "doc": {"S": _json(preferences.to_json())}})

    def scan_cursor(self, tenant_id: str) -> int | None:
        """The last audit seq the job looked at in the tenant's chain (None: never)."""
        with translated("the data store"):
            item = self._client.get_item(TableName=self._table, ConsistentRead=True,
                                         Key={"pk": {"S": f"ALERTSCAN#{tenant_id}"}, "sk": {"S": "CURSOR"}}).get("Item")
        return int(item["seq"]["N"]) if item else None

    def move_cursor(self, tenant_id: str, seq: int) -> None:
        with translated("the data store"):
            self._client.put_item(TableName=self._table, Item={
                "pk": {"S": f"ALERTSCAN#{tenant_id}"}, "sk": {"S": "CURSOR"}, "seq": {"N": str(seq)}})
