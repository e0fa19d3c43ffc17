"""Each tenant's key versions, created on first use and kept unwrapped in a bounded, TTL'd cache.

The warm path (a tenant seen within the TTL) makes neither a KMS call nor a DynamoDB read for
keys. A learner key wrapped by a version this process has not loaded yet (a rotation elsewhere)
triggers one reload.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from chalicelib.adapters.data_store import DataStore, wrapped_learner_key
from chalicelib.domain.crypto import Keyring, LearnerKey, TenantKeys, TtlCache, WrappedLearnerKey
from chalicelib.domain.errors import IntegrityError
from chalicelib.domain.tenants import Tenant


class TenantKeyService:
    def __init__(self, keyring: Keyring, store: DataStore, *, ttl_seconds: float = 300.0, max_tenants: int = 512,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._keyring = keyring
        self._store = store
        self._cache: TtlCache[str, TenantKeys] = TtlCache(max_tenants, ttl_seconds, clock)

    def forget(self) -> None:
        """Drop every unwrapped key this process holds (a SnapStart snapshot must hold none)."""
        self._cache.clear()
        self._keyring.cache.clear()

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

    def rewrap_all(self, tenant: Tenant, commit: Callable[[list[Any], int], None], batch: int = 40) -> int:
        """Move every learner key still wrapped by an older tenant key version to the newest one.

        ``commit(changes, count)`` writes one batch of conditional puts together with its audit event
        (one transaction); a learner erased or re-wrapped meanwhile fails its condition and is skipped
        on the next run. Field ciphertexts are untouched: the learner keys themselves do not change.
        Returns how many learner keys were moved.
        """
        keys = self._reload(tenant)
        moved, pending = 0, []
        for item in self._store.learner_key_items(tenant.jurisdiction, tenant.tenant_id):
            record = wrapped_learner_key(tenant.tenant_id, item["sk"]["S"].split("#")[1], item)
            if not keys.needs_rewrap(record):
                continue
            pending.append(self._store.learner_key_replace(tenant.jurisdiction, keys.rewrap(record),
                                                           record.tenant_key_version))
            if len(pending) == batch:
                commit(pending, len(pending))
                moved, pending = moved + len(pending), []
        if pending:
            commit(pending, len(pending))
            moved += len(pending)
        return moved

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
