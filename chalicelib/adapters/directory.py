"""The tenant directory: non-personal tenant metadata in a DynamoDB (global) table.

In AWS each deployment reads its local replica; locally the emulator has no global tables, so
the region the directory lives in is a setting. Either way this is the one code path.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from chalicelib.adapters.dynamo_errors import error_code, translated
from chalicelib.domain.cache import REVOCATION_SECONDS, TtlCache
from chalicelib.domain.errors import Conflict
from chalicelib.domain.tenants import Tenant

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class TenantDirectory:
    """Reads and writes directory entries; never sees personal data.

    Entries found are cached for ``ttl_seconds`` (a tenant's home region never changes, so a warm
    request needs no directory read), ``REVOCATION_SECONDS`` by default: a tenant offboarded by another
    process reads as unknown here within that. Unknown ids are not cached, so a new tenant is seen at once.
    """

    def __init__(self, client: DynamoDBClient, table_name: str, ttl_seconds: float = REVOCATION_SECONDS,
                 max_entries: int = 4096, *, clock: Callable[[], float] = time.monotonic,
                 on_offboarded: Callable[[str], object] = lambda tenant_id: None) -> None:
        """``on_offboarded(tenant_id)``: called when a read finds the entry tombstoned (drop the tenant's keys)."""
        self._client = client
        self._table = table_name
        self._cache: TtlCache[str, Tenant] = TtlCache(max_entries, ttl_seconds, clock)
        self._on_offboarded = on_offboarded

    def add(self, tenant: Tenant) -> None:
        item = {
            "tenant_id": {"S": tenant.tenant_id},
            "name": {"S": tenant.name},
            "kind": {"S": tenant.kind.value},
            "jurisdiction": {"S": tenant.jurisdiction},
            "home_region": {"S": tenant.home_region},
            "created_at": {"S": tenant.to_json()["created_at"]},
        }
        if tenant.state is not None:  # non-personal: which state's law binds the tenant
            item["state"] = {"S": tenant.state}
        if tenant.sector is not None:
            item["sector"] = {"S": tenant.sector}
        try:
            with translated("the tenant directory"):
                self._client.put_item(
                    TableName=self._table,
                    Item=item,
                    ConditionExpression="attribute_not_exists(tenant_id)",
                )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise Conflict("a tenant with this id exists already") from None
            raise

    def get(self, tenant_id: str) -> Tenant | None:
        cached = self._cache.get(tenant_id)
        if cached is not None:
            return cached
        tenant = self._read(tenant_id)
        if tenant is not None:
            self._cache.put(tenant_id, tenant)
        return tenant

    def tombstone(self, tenant_id: str, offboarded_at: str) -> None:
        """Mark an offboarded tenant's entry: from now on it reads as unknown (the id is never reused)."""
        with translated("the tenant directory"):
            self._client.update_item(TableName=self._table, Key={"tenant_id": {"S": tenant_id}},
                                     UpdateExpression="SET offboarded_at = if_not_exists(offboarded_at, :at)",
                                     ConditionExpression="attribute_exists(tenant_id)",
                                     ExpressionAttributeValues={":at": {"S": offboarded_at}})
        self._cache.discard(tenant_id)

    def in_region(self, home_region: str) -> list[Tenant]:
        """Every tenant homed in ``home_region``: a filtered scan (one small item per tenant; for daily jobs)."""
        return [tenant for tenant, _ in self._scan_region(home_region, "home_region = :r AND "
                                                                       "attribute_not_exists(offboarded_at)")]

    def ever_in_region(self, home_region: str) -> list[tuple[Tenant, str | None]]:
        """Every tenant ever homed in ``home_region``, offboarded ones included, each with its ``offboarded_at``
        (None while live): what the restore tool and the key migration must reach (an offboarded tenant's
        keys in an old copy must be destroyed too). A filtered scan, as ``in_region``."""
        return self._scan_region(home_region, "home_region = :r")

    def _scan_region(self, home_region: str, condition: str) -> list[tuple[Tenant, str | None]]:
        found: list[tuple[Tenant, str | None]] = []
        start_key: dict[str, Any] | None = None
        while True:
            params: dict[str, Any] = {"TableName": self._table, "FilterExpression": condition,
                                      "ExpressionAttributeValues": {":r": {"S": home_region}}}
            if start_key:
                params["ExclusiveStartKey"] = start_key
            with translated("the tenant directory"):
                page = self._client.scan(**params)
            for item in page.get("Items", []):
                tenant = Tenant.from_item({name: value["S"] for name, value in item.items() if "S" in value})
                found.append((tenant, item["offboarded_at"]["S"] if "offboarded_at" in item else None))
            start_key = page.get("LastEvaluatedKey")
            if not start_key:
                return found

    def page_in_region(self, home_region: str, after: str | None, limit: int) -> tuple[list[Tenant], str | None]:
        """Up to ``limit`` tenants homed in ``home_region`` after tenant id ``after``, and the last id when more remain.

        A filtered scan resumed from ``after``: the directory holds one small item per tenant.
        """
        found: list[Tenant] = []
        start_key: dict[str, Any] | None = {"tenant_id": {"S": after}} if after else None
        while True:
            params: dict[str, Any] = {
                "TableName": self._table, "FilterExpression": "home_region = :r",
                "ExpressionAttributeValues": {":r": {"S": home_region}}, "Limit": max(limit * 4, 100),
            }
            if start_key:
                params["ExclusiveStartKey"] = start_key
            with translated("the tenant directory"):
                response = self._client.scan(**params)
            for item in response.get("Items", []):
                found.append(Tenant.from_item({k: v["S"] for k, v in item.items() if "S" in v}))
                if len(found) == limit:
                    return found, found[-1].tenant_id
            start_key = response.get("LastEvaluatedKey")
            if not start_key:
                return found, None

    def _read(self, tenant_id: str) -> Tenant | None:
        with translated("the tenant directory"):
            response = self._client.get_item(
                TableName=self._table, Key={"tenant_id": {"S": tenant_id}}, ConsistentRead=False
            )
        item = response.get("Item")
        if item is not None and "offboarded_at" in item:
            self._on_offboarded(tenant_id)
            return None
        if item is None:
            return None
        return Tenant.from_item({name: value["S"] for name, value in item.items() if "S" in value})
