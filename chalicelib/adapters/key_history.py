"""The region's audit signing key history, in the audit table of the region's home jurisdiction.

Items (``pk`` = ``SIGNING_KEYS``, a partition no tenant's ``TENANT#<id>`` can collide with):
``KEY#<key_id>``: ``key_id``, ``public_key`` (PEM), ``valid_from`` and, once another key took over,
``valid_until``. Written when a key id is first used; a record is never deleted, so the published key
set still holds every key that signed a head or checkpoint kept anywhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from chalicelib.adapters.dynamo_errors import error_code, translated
from chalicelib.domain.audit.keyset import PublishedKey

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

PARTITION = "SIGNING_KEYS"
PREFIX = "KEY#"


class KeyHistory:
    """Reads and appends the key records of one region."""

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def all(self) -> list[PublishedKey]:
        """Every key record, in key-id order (a handful: one per key change)."""
        found: list[PublishedKey] = []
        params = {"TableName": self._table, "ConsistentRead": True,
                  "KeyConditionExpression": "pk = :pk AND begins_with(sk, :p)",
                  "ExpressionAttributeValues": {":pk": {"S": PARTITION}, ":p": {"S": PREFIX}}}
        while True:
            with translated("the audit key history"):
                page = self._client.query(**params)  # type: ignore[arg-type]
            for item in page.get("Items", []):
                until = item.get("valid_until", {}).get("S")
                found.append(PublishedKey(item["key_id"]["S"], item["public_key"]["S"], item["valid_from"]["S"],
                                          until))
            if not page.get("LastEvaluatedKey"):
                return found
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def add(self, key: PublishedKey) -> bool:
        """Record ``key`` unless a record of that key id exists; whether this call wrote it."""
        try:
            with translated("the audit key history"):
                self._client.put_item(TableName=self._table, ConditionExpression="attribute_not_exists(pk)", Item={
                    "pk": {"S": PARTITION}, "sk": {"S": PREFIX + key.key_id}, "key_id": {"S": key.key_id},
                    "public_key": {"S": key.public_key}, "valid_from": {"S": key.valid_from}})
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def close(self, key_id: str, valid_until: str) -> None:
        """Set ``valid_until`` of ``key_id`` unless it is set already (the first close stays)."""
        try:
            with translated("the audit key history"):
                self._client.update_item(
                    TableName=self._table, Key={"pk": {"S": PARTITION}, "sk": {"S": PREFIX + key_id}},
                    UpdateExpression="SET valid_until = :t",
                    ConditionExpression="attribute_exists(pk) AND attribute_not_exists(valid_until)",
                    ExpressionAttributeValues={":t": {"S": valid_until}})
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
