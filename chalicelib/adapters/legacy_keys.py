"""Key items that releases before the key table left in a data table (or in a restored copy of one).

Wrapped learner keys (``L#<id>#K``) and tenant key versions (``TKEY#<v>``) used to live in the data
table, which has point-in-time recovery. ``cli migrate-keys`` moves them to the key table
(``move``), except the copy of an erased learner's key or an offboarded tenant's keys, which it deletes
(``move`` says ``erased``; ``destroy``); the restore tool drops them from a restored copy (``delete``),
the live key table being the only source of keys.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.adapters.data_store import DataStore
from chalicelib.adapters.dynamo_errors import translated

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef


class LegacyKeyItems:
    """The key items in ``store``'s data table (its ``table``), moved to or kept out of its key table."""

    def __init__(self, client: DynamoDBClient, store: DataStore) -> None:
        self._client = client
        self._store = store

    def items(self, jurisdiction: str, tenant_id: str) -> list[dict[str, Any]]:
        """The tenant's learner and tenant key items still in the data table (keys only: ``pk``, ``sk``)."""
        only_keys = {"ProjectionExpression": "pk, sk"}
        found = list(self._store.items_between(jurisdiction, tenant_id, "TKEY#", "TKEY#~", **only_keys))
        found += [item for item in self._store.items_between(jurisdiction, tenant_id, "L#", "L#~", **only_keys)
                  if item["sk"]["S"].endswith("#K")]
        return found

    def move(self, jurisdiction: str, key: dict[str, Any]) -> tuple[str, list[TransactWriteItemTypeDef]] | None:
        """The changes that move one item to the key table, for one transaction with its audit event:
        ``("moved", ...)``, ``("already_moved", ...)`` (the key table's copy wins: only the data table's copy
        is deleted), ``("erased", ...)`` (a learner erased since the release that reads keys only in the key
        table: the erasure found no key to destroy there, so this copy is the key it meant; it is deleted,
        never moved) or None (gone meanwhile). A learner key moves only while the learner's profile is no
        tombstone, checked in the same transaction; the conditions make a race lose rather than overwrite."""
        data, keys = self._store.table(jurisdiction), self._store.key_table(jurisdiction)
        profile = _profile_key(key)
        with translated("the data store"):
            item = self._client.get_item(TableName=data, Key=key, ConsistentRead=True).get("Item")
            if item is None:
                return None
            erased = profile is not None and "erased_at" in self._client.get_item(
                TableName=data, Key=profile, ConsistentRead=True, ProjectionExpression="erased_at").get("Item", {})
            present = not erased and "Item" in self._client.get_item(TableName=keys, Key=key, ConsistentRead=True)
        changes: list[TransactWriteItemTypeDef] = [{"Delete": {
            "TableName": data, "Key": key, "ConditionExpression": "attribute_exists(pk)"}}]
        if profile is not None:
            changes.append({"ConditionCheck": {
                "TableName": data, "Key": profile,
                "ConditionExpression": "attribute_exists(erased_at)" if erased else "attribute_not_exists(erased_at)"}})
        if erased:
            return "erased", changes
        if not present:
            changes.append({"Put": {"TableName": keys, "Item": item,
                                    "ConditionExpression": "attribute_not_exists(pk)"}})
        return ("already_moved" if present else "moved"), changes

    def destroy(self, jurisdiction: str, key: dict[str, Any]) -> list[TransactWriteItemTypeDef]:
        """Delete one item from the data table without moving it (an offboarded tenant's: its keys were
        destroyed), for one transaction with its audit event; only if it is still there."""
        return [{"Delete": {"TableName": self._store.table(jurisdiction), "Key": key,
                            "ConditionExpression": "attribute_exists(pk)"}}]

    def delete(self, jurisdiction: str, key: dict[str, Any]) -> TransactWriteItemTypeDef:
        """Drop a key item from a restored copy of the data table (for a transaction with its audit event)."""
        return {"Delete": {"TableName": self._store.table(jurisdiction), "Key": key}}


def _profile_key(key: dict[str, Any]) -> dict[str, Any] | None:
    """The key of the profile (or tombstone) of the learner whose key item ``key`` is; None for a tenant key."""
    sk = key["sk"]["S"]
    if not (sk.startswith("L#") and sk.endswith("#K")):
        return None
    return {"pk": key["pk"], "sk": {"S": sk[:-len("K")] + "P"}}
