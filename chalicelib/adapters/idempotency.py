"""Idempotency records: a retried POST with the same ``Idempotency-Key`` returns the first result.

A record holds only the created resource's id and a keyed fingerprint of the request (never the
body or the response, which may be personal data). Its put joins the creating transaction, so a
key is claimed exactly when the resource is created. Records expire after a day (DynamoDB TTL is
fine here: a late expiry only keeps a replay answerable longer).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from chalicelib.adapters.dynamo_errors import translated

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

TTL_SECONDS = 24 * 3600
MAX_KEY_LENGTH = 128


class IdempotencyStore:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def find(self, scope: str) -> tuple[str, str] | None:
        """``(resource_id, fingerprint)`` of an earlier request with this scope, if any."""
        with translated("the idempotency store"):
            item = self._client.get_item(TableName=self._table, Key={"key": {"S": scope}},
                                         ConsistentRead=True).get("Item")
        return (item["resource_id"]["S"], item["fingerprint"]["S"]) if item else None

    def claim(self, scope: str, resource_id: str, fingerprint: str) -> TransactWriteItemTypeDef:
        return {"Put": {"TableName": self._table, "Item": {
            "key": {"S": scope}, "resource_id": {"S": resource_id}, "fingerprint": {"S": fingerprint},
            "expires_at": {"N": str(int(time.time()) + TTL_SECONDS)},
        }, "ConditionExpression": "attribute_not_exists(#k)", "ExpressionAttributeNames": {"#k": "key"}}}

    def put(self, scope: str, resource_id: str, fingerprint: str) -> bool:
        """Claim outside a transaction (resources in another region's table); False when taken."""
        from botocore.exceptions import ClientError

        put = self.claim(scope, resource_id, fingerprint)["Put"]
        try:
            with translated("the idempotency store"):
                self._client.put_item(**put)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True
