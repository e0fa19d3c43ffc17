"""Each tenant's key versions: created at onboarding, unwrapped through one cache, rotated, revoked.

* **One cache of unwrapped tenant keys**: the ``Keyring``'s, whose entries expire ``ttl`` after the KMS
  unwrap that produced them (never extended by use, never copied into a second cache). This service
  caches only the *wrapped* records (no secret; they save the DynamoDB read); building ``TenantKeys``
  from them asks the keyring every time, so when a grant is revoked at KMS every process fails closed
  at most one TTL after its last unwrap.
* **Eviction** (``evict`` for one tenant, ``evict_all`` the kill switch of this process) drops the
  plaintext keys at once; an incident or an offboarding calls it. The wrapped records are trusted for
  ``REVOCATION_SECONDS`` only: an offboarding in another process destroys them, so every warm process
  stops unwrapping within that (a read finding none evicts the plaintext keys too).
* **Fail closed**: a tenant without a key record answers 503 ``tenant_key_missing`` and raises the
  alarm; a key is created only at onboarding (``create``), never on a read.
* **One alerting path** (``alarm``) for every unwrap or decrypt failure: a critical log line carrying
  an embedded CloudWatch metric (``KeyFailures``, alarmed in the template) and an audit event
  ``key.alarm`` in the tenant's chain.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from chalicelib.adapters import consent_counts
from chalicelib.adapters.audit_store import ChangeRejected
from chalicelib.adapters.data_store import DataStore, wrapped_learner_key
from chalicelib.domain.audit import AuditEventDraft, format_at
from chalicelib.domain.cache import REVOCATION_SECONDS
from chalicelib.domain.crypto import Keyring, LearnerKey, TenantKeys, TtlCache, WrappedLearnerKey, WrappedTenantKey
from chalicelib.domain.errors import (
    Conflict,
    EnclaveError,
    IntegrityError,
    KeyAccessDenied,
    NotFound,
    TenantKeyMissing,
)
from chalicelib.domain.tenants import Tenant
from chalicelib.logs import REQUEST_ID, logger

KEY_FAILURE_METRIC = "KeyFailures"
DESTROY_BATCH = 90
DESTROY_ROUNDS = 20
METRICS_NAMESPACE = "Enclave"
ALARM_SUB = "system:key-alarm"


class AuditSink(Protocol):
    def commit(self, tenant_id: str, jurisdiction: str, draft: AuditEventDraft, changes: Any = ...) -> Any: ...


def _emf(metric: str) -> dict[str, Any]:
    """CloudWatch Embedded Metric Format keys: the log line itself counts one ``metric``."""
    return {"_aws": {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": [{
        "Namespace": METRICS_NAMESPACE, "Dimensions": [["service"]], "Metrics": [{"Name": metric, "Unit": "Count"}]}]},
        metric: 1}


class TenantKeyService:
    def __init__(self, keyring: Keyring, store: DataStore, audit: AuditSink | None = None, *,
                 ttl_seconds: float = REVOCATION_SECONDS, max_tenants: int = 4096,
                 clock: Callable[[], float] = time.monotonic,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC),
                 offboarded: Callable[[Tenant], bool] = lambda tenant: False) -> None:
        self._now = now
        self._offboarded = offboarded
        self._keyring = keyring
        self._store = store
        self._audit = audit
        self._records: TtlCache[str, tuple[WrappedTenantKey, ...]] = TtlCache(max_tenants, ttl_seconds, clock)

    # -- the one alerting path ---------------------------------------------------------------------

    def alarm(self, tenant: Tenant, reason: str, ids: Mapping[str, str] | None = None, *,
              actor: tuple[str, str] | None = None, action: str = "key.alarm", resource: str | None = None) -> None:
        """Log a critical alert with its metric and record ``reason`` in the tenant's trail (ids only).

        ``actor`` is ``(sub, role)`` of the caller whose request met the failure (default: the system)."""
        ids = dict(ids or {})
        logger.critical("key or ciphertext failure", extra={"alert": reason, "tenant_id": tenant.tenant_id, **ids,
                                                            **_emf(KEY_FAILURE_METRIC)})
        if self._audit is None:
            return
        sub, role = actor or (ALARM_SUB, "system")
        draft = AuditEventDraft(actor_sub=sub, actor_role=role, action=action,
                                resource=resource or f"tenants/{tenant.tenant_id}/keys", outcome=reason,
                                request_id=REQUEST_ID.get() or "-", details=ids)
        try:
            self._audit.commit(tenant.tenant_id, tenant.jurisdiction, draft)
        except EnclaveError:
            logger.error("a key alarm could not be audited", extra={"alert": reason})

    def _guarded(self, tenant: Tenant, load: Callable[[], Any], **ids: str) -> Any:
        try:
            return load()
        except KeyAccessDenied:
            self.alarm(tenant, "key_access_denied", ids)
            raise
        except IntegrityError:
            self.alarm(tenant, "integrity_error", ids)
            raise

    # -- keys --------------------------------------------------------------------------------------

    def create(self, tenant: Tenant, fresh: bool = False) -> None:
        """Onboarding: the tenant's first key version, audited in the same transaction (a retry keeps it).
        ``fresh``: the tenant id was minted by this request, so no key can exist yet and none is read (the
        put is conditional all the same)."""
        if not fresh and self._store.tenant_keys(tenant.jurisdiction, tenant.tenant_id):
            return
        record = self._keyring.create_tenant_key(tenant.tenant_id, 1)
        if self._audit is None:  # unit tests without a trail
            self._store.add_tenant_key(tenant.jurisdiction, record)
        else:
            at = format_at(self._now())
            put = self._store.tenant_key_put(tenant.jurisdiction, record, at)
            counted = consent_counts.since_put(self._store.table(tenant.jurisdiction), tenant.tenant_id, at)
            draft = AuditEventDraft(actor_sub=ALARM_SUB.replace("alarm", "onboarding"), actor_role="system",
                                    action="tenant_key.create", resource=f"tenants/{tenant.tenant_id}/keys",
                                    outcome="success", request_id=REQUEST_ID.get() or "-", details={"version": 1})
            with contextlib.suppress(ChangeRejected):  # a concurrent onboarding retry stored version 1 first
                self._audit.commit(tenant.tenant_id, tenant.jurisdiction, draft, [put, counted])
        self._records.discard(tenant.tenant_id)

    def forget(self) -> None:
        """Drop every tenant key this process holds (a SnapStart snapshot must hold none): the kill switch."""
        self.evict_all()

    def keys_for(self, tenant: Tenant) -> TenantKeys:
        records = self._records.get_or_create(tenant.tenant_id, lambda: self._read(tenant))
        keys: TenantKeys = self._guarded(tenant, lambda: self._keyring.tenant_keys(records))
        return keys

    def unwrap(self, tenant: Tenant, record: WrappedLearnerKey) -> LearnerKey:
        keys = self.keys_for(tenant)
        if record.tenant_key_version not in keys.versions:
            keys = self._reload(tenant)
        key: LearnerKey = self._guarded(tenant, lambda: keys.unwrap(record), learner_id=record.learner_id)
        return key

    def evict(self, tenant_id: str) -> int:
        """Drop the tenant's plaintext keys from this process now (incident, offboarding); how many."""
        self._records.discard(tenant_id)
        return self._keyring.evict(tenant_id)

    def evict_all(self) -> int:
        """The kill switch of this process: every plaintext tenant key dropped; the next use asks KMS."""
        self._records.clear()
        count = len(self._keyring.cache)
        self._keyring.cache.clear()
        return count

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

    def destroy_all_versions(self, tenant: Tenant) -> int:
        """Offboarding: delete every learner key and every key version of the tenant (all its learners are
        shredded at once), audited in the same transactions, until a listing finds none left; drops the
        unwrapped copies. The newest version goes last (it wraps the final package's key, which a retry
        can recover until then). How many versions this call destroyed (a retry destroys what is left;
        a concurrent retry that deleted some first only makes this one list again)."""
        if self._audit is None:  # unit tests without a trail (nor learners)
            destroyed = self._store.delete_tenant_keys(tenant.jurisdiction, tenant.tenant_id)
            self.evict(tenant.tenant_id)
            return destroyed
        destroyed = 0
        for _ in range(DESTROY_ROUNDS):
            learner_sks = [item["sk"]["S"] for item in
                           self._store.learner_key_items(tenant.jurisdiction, tenant.tenant_id)]
            versions = sorted(record.version for record in
                              self._store.tenant_keys(tenant.jurisdiction, tenant.tenant_id))
            if not learner_sks and not versions:
                self.evict(tenant.tenant_id)
                return destroyed
            doomed: list[tuple[str, int | str]] = [("learner", sk) for sk in learner_sks]
            doomed += [("version", version) for version in versions]
            for start in range(0, len(doomed), DESTROY_BATCH):
                chunk = doomed[start:start + DESTROY_BATCH]
                if self._destroy_chunk(tenant, chunk):
                    destroyed += sum(kind == "version" for kind, _ in chunk)
        raise Conflict("the tenant's keys could not all be destroyed; retry to finish the offboarding",
                       reason="keys_remaining")

    def _destroy_chunk(self, tenant: Tenant, chunk: list[tuple[str, int | str]]) -> bool:
        """Delete one chunk of learner keys and key versions with its event; False when a concurrent retry
        deleted one of them first (the caller lists again)."""
        j, tid = tenant.jurisdiction, tenant.tenant_id
        versions = [int(value) for kind, value in chunk if kind == "version"]
        deletes = [self._store.key_item_delete(j, tid, str(value)) for kind, value in chunk if kind == "learner"]
        deletes += [self._store.tenant_key_delete(j, tid, version) for version in versions]
        details: dict[str, Any] = {"versions": ",".join(str(v) for v in versions),
                                   "learner_keys": sum(kind == "learner" for kind, _ in chunk)}
        draft = AuditEventDraft(actor_sub=ALARM_SUB.replace("alarm", "offboarding"), actor_role="system",
                                action="tenant_key.destroy", resource=f"tenants/{tid}/keys",
                                outcome="success", request_id=REQUEST_ID.get() or "-", details=details)
        try:
            if self._audit is not None:
                self._audit.commit(tid, j, draft, deletes)
        except ChangeRejected:
            return False
        self.evict(tid)
        return True

    def reloaded(self, tenant: Tenant) -> TenantKeys:
        """Every stored version, read again (after a rotation here or elsewhere)."""
        return self._reload(tenant)

    def _reload(self, tenant: Tenant) -> TenantKeys:
        self._records.discard(tenant.tenant_id)
        return self.keys_for(tenant)

    def _read(self, tenant: Tenant) -> tuple[WrappedTenantKey, ...]:
        records = tuple(self._store.tenant_keys(tenant.jurisdiction, tenant.tenant_id))
        if not records:
            self._keyring.evict(tenant.tenant_id)  # destroyed elsewhere: the plaintext copies go too
            if self._offboarded(tenant):
                raise NotFound("no such tenant")
            self.alarm(tenant, "tenant_key_missing")
            raise TenantKeyMissing("this tenant has no key; the operators have been alerted", retry_after=60)
        return records
