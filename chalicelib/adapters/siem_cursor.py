"""A tenant's OCSF stream state in the jurisdiction's data table: switched on or off, and its delivery cursor.

One item per tenant (``pk`` = ``TENANT#<tenant_id>``, ``sk`` = ``SIEM#STREAM``): ``enabled`` (switched by a
compliance officer, in the transaction of the switch's audit event), ``delivered`` (the last seq written
to the stream) and, while a delivery is under way, ``claim_to`` (the last seq it writes). Every change of
the cursor is conditional on what the deliverer read: claiming a run needs ``delivered`` unchanged and no
claim; moving ``delivered`` needs the claim unchanged. A claim left by a delivery that died is redone
whole by the next one (its objects have the same keys, written only if absent). Identifiers, numbers and
times only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from chalicelib.adapters.data_store import DataStore, tenant_pk
from chalicelib.adapters.dynamo_errors import error_code, translated

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

STREAM_SK = "SIEM#STREAM"


@dataclass(frozen=True)
class StreamState:
    """What the item says (a tenant without one: off, nothing delivered)."""

    enabled: bool = False
    delivered: int = 0
    claim_to: int | None = None
    changed_at: str | None = None
    changed_by: str | None = None


class SiemCursors:
    """Reads and moves tenants' stream state."""

    def __init__(self, client: DynamoDBClient, data: DataStore) -> None:
        self._client = client
        self._data = data

    def _key(self, tenant_id: str) -> dict[str, Any]:
        return {"pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": STREAM_SK}}

    def state(self, jurisdiction: str, tenant_id: str) -> StreamState:
        with translated("the SIEM stream state"):
            item = self._client.get_item(TableName=self._data.table(jurisdiction), Key=self._key(tenant_id),
                                         ConsistentRead=True).get("Item")
        if not item:
            return StreamState()
        return StreamState(enabled=bool(item.get("enabled", {}).get("BOOL", False)),
                           delivered=int(item.get("delivered", {}).get("N", "0")),
                           claim_to=int(item["claim_to"]["N"]) if "claim_to" in item else None,
                           changed_at=item["changed_at"]["S"] if "changed_at" in item else None,
                           changed_by=item["changed_by"]["S"] if "changed_by" in item else None)

    def switch(self, jurisdiction: str, tenant_id: str, enabled: bool, at: str,
               by: str) -> TransactWriteItemTypeDef:
        """The update switching the stream (for the transaction of its audit event); the cursor stays."""
        return {"Update": {
            "TableName": self._data.table(jurisdiction), "Key": self._key(tenant_id),
            "UpdateExpression": "SET enabled = :e, changed_at = :at, changed_by = :by, "
                                "delivered = if_not_exists(delivered, :zero)",
            "ExpressionAttributeValues": {":e": {"BOOL": enabled}, ":at": {"S": at}, ":by": {"S": by},
                                          ":zero": {"N": "0"}},
        }}

    def claim(self, jurisdiction: str, tenant_id: str, delivered: int, claim_to: int) -> bool:
        """Claim seqs ``delivered + 1 .. claim_to``; False when the cursor moved or another claim stands."""
        return self._update(jurisdiction, tenant_id, "SET claim_to = :c",
                            "delivered = :d AND attribute_not_exists(claim_to)",
                            {":c": {"N": str(claim_to)}, ":d": {"N": str(delivered)}})

    def advance(self, jurisdiction: str, tenant_id: str, claim_to: int) -> bool:
        """The claimed run is written: ``delivered`` moves to it; False when the claim is gone (done by another)."""
        return self._update(jurisdiction, tenant_id, "SET delivered = :c REMOVE claim_to", "claim_to = :c",
                            {":c": {"N": str(claim_to)}})

    def _update(self, jurisdiction: str, tenant_id: str, expression: str, condition: str,
                values: dict[str, Any]) -> bool:
        try:
            with translated("the SIEM stream state"):
                self._client.update_item(TableName=self._data.table(jurisdiction), Key=self._key(tenant_id),
                                         UpdateExpression=expression, ConditionExpression=condition,
                                         ExpressionAttributeValues=values)
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            return False
        return True
