"""Each tenant's key versions, created on first use and kept unwrapped in a bounded, TTL'd cache.

The warm path (a tenant seen within the TTL) makes neither a KMS call nor a DynamoDB read for
keys. A learner key wrapped by a version this process has not loaded yet (a rotation elsewhere)
triggers one reload.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from chalicelib.adapters.data_store import DataStore
from chalicelib.domain.crypto import Keyring, LearnerKey, TenantKeys, TtlCache, WrappedLearnerKey
from chalicelib.domain.errors import IntegrityError
from chalicelib.domain.tenants import Tenant


class TenantKeyService:
    def __init__(self, keyring: Keyring, store: DataStore, *, ttl_seconds: float = 300.0, max_tenants: int = 512,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._keyring = keyring
        self._store = store
        self._cache: TtlCache[str, TenantKeys] = TtlCache(max_tenants, ttl_seconds, clock)

    def keys_for(self, tenant: Tenant) -> TenantKeys:
        return self._cache.get_or_create(tenant.tenant_id, lambda: self._load(tenant))

    def unwrap(self, tenant: Tenant, record: WrappedLearnerKey) -> LearnerKey:
        keys = self.keys_for(tenant)
        if record.tenant_key_version not in keys.versions:
            keys = self._reload(tenant)
        return keys.unwrap(record)

    def rotate(self, tenant: Tenant) -> TenantKeys:
        """Add the next tenant key version; new learner keys are wrapped by it from now on."""
        current = self._reload(tenant)
        record = self._keyring.rotate(current)
        if not self._store.add_tenant_key(tenant.jurisdiction, record):
            raise IntegrityError("a concurrent rotation created this key version first; retry")
        return self._reload(tenant)

    def _reload(self, tenant: Tenant) -> TenantKeys:
        keys = self._load(tenant)
        self._cache.put(tenant.tenant_id, keys)
        return keys

    def _load(self, tenant: Tenant) -> TenantKeys:
        records = self._store.tenant_keys(tenant.jurisdiction, tenant.tenant_id)
        if not records:
            record = self._keyring.create_tenant_key(tenant.tenant_id, 1)
            if self._store.add_tenant_key(tenant.jurisdiction, record):
                records = [record]
            else:  # another process created version 1 at the same moment: use theirs
                records = self._store.tenant_keys(tenant.jurisdiction, tenant.tenant_id)
        return self._keyring.tenant_keys(records)
