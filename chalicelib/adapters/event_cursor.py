"""How far a tenant's sealed audit trail has been turned into domain events (the publish cursor).

One item per tenant in the jurisdiction's data table (``pk`` = ``TENANT#<tenant_id>``, ``sk`` =
``EVENTS#CURSOR``): ``published``, the last seq whose domain event (if any) reached the bus and the webhook
queue. It moves only forward and only from the value the publisher read (a conditional update), so two
sequencers on one tenant never skip a seq; the loser's events went out twice with the same ids.
Numbers only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from chalicelib.adapters.data_store import DataStore, tenant_pk
from chalicelib.adapters.dynamo_errors import error_code, translated

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

CURSOR_SK = "EVENTS#CURSOR"


class EventCursors:
    """Reads and moves tenants' publish cursors."""

    def __init__(self, client: DynamoDBClient, data: DataStore) -> None:
        self._client = client
        self._data = data

    def _key(self, tenant_id: str) -> dict[str, Any]:
        return {"pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": CURSOR_SK}}

    def published(self, jurisdiction: str, tenant_id: str) -> int:
        """The last seq published (0: none yet)."""
        with translated("the event cursor"):
            item = self._client.get_item(TableName=self._data.table(jurisdiction), Key=self._key(tenant_id),
                                         ConsistentRead=True).get("Item")
        return int(item["published"]["N"]) if item else 0

    def advance(self, jurisdiction: str, tenant_id: str, read: int, to: int) -> bool:
        """Move the cursor from ``read`` to ``to``; False when another publisher moved it first."""
        condition = "published = :read" if read else "attribute_not_exists(published) OR published = :read"
        try:
            with translated("the event cursor"):
                self._client.update_item(TableName=self._data.table(jurisdiction), Key=self._key(tenant_id),
                                         UpdateExpression="SET published = :to", ConditionExpression=condition,
                                         ExpressionAttributeValues={":to": {"N": str(to)}, ":read": {"N": str(read)}})
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            return False
        return True
