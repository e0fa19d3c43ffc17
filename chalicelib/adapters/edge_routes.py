"""The global entry's routing table: tenant id -> home region in a CloudFront KeyValueStore.

The CloudFront Function ``deploy/edge/router.js`` reads this store on every ``/v1/tenants/{id}/...``
request. Only tenant ids and region names are written here (``edge_entry`` refuses anything else):
the store is replicated to every CloudFront edge location, so nothing personal may cross into it.

The data-plane API (service ``cloudfront-keyvaluestore``) makes every write conditional on the
store's current ETag (``IfMatch``): ``DescribeKeyValueStore`` gives it, ``PutKey``/``DeleteKey``/
``UpdateKeys`` answer the next one, and a write with a stale ETag is a ``ConflictException`` (another
writer came first). This adapter re-reads the ETag and retries then. Requests are signed with SigV4A,
which botocore can only do with ``awscrt`` installed (a runtime dependency for that reason).

The client is injected (``KeyValueStoreClient``: botocore's client in AWS, a fake in the tests, which
follows the documented interface); moto does not implement this service.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.adapters.audit_store import jittered_backoff
from chalicelib.adapters.dynamo_errors import error_code
from chalicelib.domain.errors import ServiceUnavailable
from chalicelib.domain.ids import is_valid_id
from chalicelib.settings import REGIONS

UPDATE_BATCH = 50
"""Keys per ``UpdateKeys`` call (the service's limit per request)."""


class KeyValueStoreClient(Protocol):
    """The operations of botocore's ``cloudfront-keyvaluestore`` client that Enclave uses."""

    def describe_key_value_store(self, *, KvsARN: str) -> Mapping[str, Any]: ...

    def put_key(self, *, KvsARN: str, Key: str, Value: str, IfMatch: str) -> Mapping[str, Any]: ...

    def delete_key(self, *, KvsARN: str, Key: str, IfMatch: str) -> Mapping[str, Any]: ...

    def update_keys(self, *, KvsARN: str, IfMatch: str, Puts: Sequence[Mapping[str, str]],
                    Deletes: Sequence[Mapping[str, str]]) -> Mapping[str, Any]: ...

    def list_keys(self, **kwargs: Any) -> Mapping[str, Any]: ...


class EdgeSyncFailed(ServiceUnavailable):
    """The routing table could not be updated (after retries); the reconciliation repairs it."""

    code = "edge_sync_failed"


def edge_entry(tenant_id: str, region: str) -> tuple[str, str]:
    """The one form of an entry: a tenant id and one of the four home regions, nothing else."""
    if not is_valid_id(tenant_id, "tnt") or region not in REGIONS:
        raise ValueError("a routing-table entry is a tenant id and a home region only")
    return tenant_id, region


class EdgeRouteStore:
    """Puts, deletes and lists tenant routes; every write conditional on the store's ETag, retried on conflict."""

    def __init__(self, client: KeyValueStoreClient, kvs_arn: str, *, attempts: int = 5,
                 backoff: Callable[[int], None] = jittered_backoff) -> None:
        self._client = client
        self._arn = kvs_arn
        self._attempts = attempts
        self._backoff = backoff

    def put(self, tenant_id: str, region: str) -> None:
        key, value = edge_entry(tenant_id, region)
        self._conditional(lambda etag: self._client.put_key(KvsARN=self._arn, Key=key, Value=value, IfMatch=etag))

    def delete(self, tenant_id: str) -> None:
        """Remove a tenant's route; a route that is not there is already removed."""
        self._conditional(lambda etag: self._client.delete_key(KvsARN=self._arn, Key=tenant_id, IfMatch=etag),
                          absent_ok=True)

    def apply(self, puts: Mapping[str, str], deletes: Sequence[str]) -> int:
        """Write ``puts`` (tenant id -> region) and remove ``deletes``, 50 keys per call; the calls made."""
        changes: list[tuple[str, str | None]] = [edge_entry(k, v) for k, v in sorted(puts.items())]
        changes += [(tenant_id, None) for tenant_id in sorted(deletes)]
        calls = 0
        for start in range(0, len(changes), UPDATE_BATCH):
            batch = changes[start:start + UPDATE_BATCH]
            put_items = [{"Key": k, "Value": v} for k, v in batch if v is not None]
            delete_items = [{"Key": k} for k, v in batch if v is None]
            self._conditional(self._update(put_items, delete_items))
            calls += 1
        return calls

    def _update(self, puts: list[dict[str, str]], deletes: list[dict[str, str]]) -> Callable[[str], Mapping[str, Any]]:
        return lambda etag: self._client.update_keys(KvsARN=self._arn, IfMatch=etag, Puts=puts, Deletes=deletes)

    def entries(self) -> dict[str, str]:
        """Every key of the store and its value (paged ``ListKeys``)."""
        return dict(self._listed())

    def _listed(self) -> Iterator[tuple[str, str]]:
        token: str | None = None
        while True:
            params: dict[str, Any] = {"KvsARN": self._arn, "MaxResults": 50}
            if token:
                params["NextToken"] = token
            page = self._call(self._list_page(params))
            for item in page.get("Items", []):
                yield str(item["Key"]), str(item["Value"])
            token = page.get("NextToken")
            if not token:
                return

    def _list_page(self, params: dict[str, Any]) -> Callable[[], Mapping[str, Any]]:
        return lambda: self._client.list_keys(**params)

    def _etag(self) -> str:
        return str(self._call(lambda: self._client.describe_key_value_store(KvsARN=self._arn))["ETag"])

    def _conditional(self, write: Callable[[str], Mapping[str, Any]], *, absent_ok: bool = False) -> None:
        for attempt in range(self._attempts):
            try:
                write(self._etag())
                return
            except ClientError as exc:
                code = error_code(exc)
                if code == "ResourceNotFoundException" and absent_ok:
                    return
                if code not in {"ConflictException", "ThrottlingException", "InternalServerException"}:
                    raise EdgeSyncFailed(f"the edge routing table refused the change ({code})") from None
            except BotoCoreError:
                pass
            if attempt + 1 < self._attempts:
                self._backoff(attempt)
        raise EdgeSyncFailed(f"the edge routing table stayed busy after {self._attempts} attempts")

    @staticmethod
    def _call(call: Callable[[], Mapping[str, Any]]) -> Mapping[str, Any]:
        try:
            return call()
        except (ClientError, BotoCoreError) as exc:
            code = error_code(exc) if isinstance(exc, ClientError) else type(exc).__name__
            raise EdgeSyncFailed(f"the edge routing table could not be read ({code})") from None
