"""Evidence that a tenant met a standing obligation, in the jurisdiction's personal-data table.

Items (``pk`` = ``TENANT#<tenant_id>``, ``sk`` = ``OBL#<key>#<evidenced_on>``): the day the evidence
dates from, when and by whom it was recorded, and an optional reference (an https URL of the document;
never a personal value). One item per obligation and day: recording the same evidence again changes
nothing (the write's condition refuses it, so a retry is not a second record).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import TYPE_CHECKING, Any

from chalicelib.adapters.data_store import DataStore, tenant_pk
from chalicelib.adapters.dynamo_errors import translated

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

PREFIX = "OBL#"


class ObligationStore:
    def __init__(self, client: DynamoDBClient, store: DataStore) -> None:
        self._client = client
        self._store = store

    def evidence(self, jurisdiction: str, tenant_id: str, key: str, evidenced_on: date, recorded_at: str,
                 recorded_by: str, reference: str | None) -> TransactWriteItemTypeDef:
        """The evidence item, written only if no evidence of that day was recorded for ``key``."""
        item: dict[str, Any] = {
            "pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": f"{PREFIX}{key}#{evidenced_on.isoformat()}"},
            "record_type": {"S": "obligation_evidence"}, "obligation": {"S": key},
            "evidenced_on": {"S": evidenced_on.isoformat()}, "recorded_at": {"S": recorded_at},
            "recorded_by": {"S": recorded_by},
        }
        if reference is not None:
            item["reference"] = {"S": reference}
        return {"Put": {"TableName": self._store.table(jurisdiction), "Item": item,
                        "ConditionExpression": "attribute_not_exists(pk)"}}

    def latest(self, jurisdiction: str, tenant_id: str) -> dict[str, dict[str, str]]:
        """Per obligation key, its most recent evidence (``evidenced_on``, ``recorded_at``, ``reference``?)."""
        found: dict[str, dict[str, str]] = {}
        for item in self._items(jurisdiction, tenant_id):
            evidence: dict[str, str] = {name: item[name]["S"] for name in ("evidenced_on", "recorded_at", "reference")
                                        if name in item}
            key = item["obligation"]["S"]
            if key not in found or evidence["evidenced_on"] > found[key]["evidenced_on"]:
                found[key] = evidence
        return found

    def _items(self, jurisdiction: str, tenant_id: str) -> Iterator[dict[str, Any]]:
        params: dict[str, Any] = {
            "TableName": self._store.table(jurisdiction), "ConsistentRead": True,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :o)",
            "ExpressionAttributeValues": {":pk": {"S": tenant_pk(tenant_id)}, ":o": {"S": PREFIX}},
        }
        while True:
            with translated("the data store"):
                page = self._client.query(**params)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]
