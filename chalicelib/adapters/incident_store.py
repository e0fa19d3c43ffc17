"""Recorded incidents in the personal-data table of the jurisdiction homed in this region.

Item ``pk`` = ``INCIDENT#<incident_id>``, ``sk`` = ``INCIDENT``: ``doc`` is the POST's answer as JSON
(identifiers, times, deadlines, endpoints; never the summary, which is not stored anywhere). An
incident spans tenants, so it is not under one tenant's partition; every tenant it names is homed in
this region's jurisdiction (tenants homed elsewhere are only listed as unavailable), so its table is
the one of ``JurisdictionCatalog.by_region``. Tables come from ``DataStore.table`` (residency check).

For the console's list, the item also carries ``lookup_pk`` = ``INC#<region>`` and ``lookup_sk`` =
``<recorded_at>#<incident_id>``: the ``by_lookup`` index lists the region's incidents newest first.
Incidents recorded before the list existed carry neither until ``cli migrate-incidents`` adds them
(``add_lookup``; ``chalicelib.services.incident_migration``).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from chalicelib.adapters.data_store import DataStore
from chalicelib.adapters.dynamo_errors import translated

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef


def region_lookup_pk(region: str) -> str:
    return f"INC#{region}"


def _lookup_sk(doc: dict[str, Any]) -> str:
    return f"{doc['recorded_at']}#{doc['incident_id']}"


def _key(incident_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"INCIDENT#{incident_id}"}, "sk": {"S": "INCIDENT"}}


class IncidentStore:
    def __init__(self, client: DynamoDBClient, store: DataStore, region: str) -> None:
        self._client = client
        self._store = store
        self._region = region

    def put(self, jurisdiction: str, doc: dict[str, Any]) -> TransactWriteItemTypeDef:
        """The incident's record, written in the transaction of its first audit event."""
        item = {**_key(doc["incident_id"]), "doc": {"S": json.dumps(doc, separators=(",", ":"), sort_keys=True)},
                "lookup_pk": {"S": region_lookup_pk(self._region)},
                "lookup_sk": {"S": _lookup_sk(doc)}}
        return {"Put": {"TableName": self._store.table(jurisdiction), "Item": item,
                        "ConditionExpression": "attribute_not_exists(pk)"}}

    def get(self, jurisdiction: str, incident_id: str) -> dict[str, Any] | None:
        stored = self.stored(jurisdiction, incident_id)
        return stored[0] if stored else None

    def stored(self, jurisdiction: str, incident_id: str) -> tuple[dict[str, Any], bool] | None:
        """The recorded incident and whether the ``by_lookup`` index lists it (None: no such incident)."""
        with translated("the data store"):
            item = self._client.get_item(TableName=self._store.table(jurisdiction), Key=_key(incident_id),
                                         ConsistentRead=True).get("Item")
        return (json.loads(item["doc"]["S"]), "lookup_pk" in item) if item else None

    def add_lookup(self, jurisdiction: str, doc: dict[str, Any]) -> TransactWriteItemTypeDef:
        """The index attributes an incident recorded before the list route lacks (identifiers and its time
        only), for the transaction of its audit event; the condition makes a second run change nothing."""
        return {"Update": {
            "TableName": self._store.table(jurisdiction), "Key": _key(doc["incident_id"]),
            "UpdateExpression": "SET lookup_pk = :pk, lookup_sk = :sk",
            "ConditionExpression": "attribute_exists(pk) AND attribute_not_exists(lookup_pk)",
            "ExpressionAttributeValues": {":pk": {"S": region_lookup_pk(self._region)},
                                          ":sk": {"S": _lookup_sk(doc)}},
        }}

    def page(self, jurisdiction: str, after: str | None, limit: int) -> tuple[list[dict[str, Any]], str | None]:
        """Up to ``limit`` incidents of this region, newest first, after incident ``after``; the last id if more."""
        table = self._store.table(jurisdiction)
        params: dict[str, Any] = {
            "TableName": table, "IndexName": "by_lookup", "ScanIndexForward": False, "Limit": limit,
            "KeyConditionExpression": "lookup_pk = :r",
            "ExpressionAttributeValues": {":r": {"S": region_lookup_pk(self._region)}},
        }
        if after:
            with translated("the data store"):
                start = self._client.get_item(TableName=table, Key=_key(after)).get("Item")
            if start is None or "lookup_sk" not in start:
                return [], None
            params["ExclusiveStartKey"] = {name: start[name] for name in ("pk", "sk", "lookup_pk", "lookup_sk")}
        with translated("the data store"):
            response = self._client.query(**params)
        docs = [json.loads(item["doc"]["S"]) for item in response.get("Items", [])]
        more = "LastEvaluatedKey" in response and len(docs) == limit
        return docs, docs[-1]["incident_id"] if more and docs else None
