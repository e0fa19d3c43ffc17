"""Recorded incidents in the personal-data table of the jurisdiction homed in this region.

Item ``pk`` = ``INCIDENT#<incident_id>``, ``sk`` = ``INCIDENT``: ``doc`` is the POST's answer as JSON
(identifiers, times, deadlines, endpoints; never the summary, which is not stored anywhere). An
incident spans tenants, so it is not under one tenant's partition; every tenant it names is homed in
this region's jurisdiction (tenants homed elsewhere are only listed as unavailable), so its table is
the one of ``JurisdictionCatalog.by_region``. Tables come from ``DataStore.table`` (residency check).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from chalicelib.adapters.data_store import DataStore
from chalicelib.adapters.dynamo_errors import translated

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef


def _key(incident_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"INCIDENT#{incident_id}"}, "sk": {"S": "INCIDENT"}}


class IncidentStore:
    def __init__(self, client: DynamoDBClient, store: DataStore) -> None:
        self._client = client
        self._store = store

    def put(self, jurisdiction: str, doc: dict[str, Any]) -> TransactWriteItemTypeDef:
        """The incident's record, written in the transaction of its first audit event."""
        item = {**_key(doc["incident_id"]), "doc": {"S": json.dumps(doc, separators=(",", ":"), sort_keys=True)}}
        return {"Put": {"TableName": self._store.table(jurisdiction), "Item": item,
                        "ConditionExpression": "attribute_not_exists(pk)"}}

    def get(self, jurisdiction: str, incident_id: str) -> dict[str, Any] | None:
        with translated("the data store"):
            item = self._client.get_item(TableName=self._store.table(jurisdiction), Key=_key(incident_id),
                                         ConsistentRead=True).get("Item")
        return json.loads(item["doc"]["S"]) if item else None
