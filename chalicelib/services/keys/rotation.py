"""Tenant key rotation that runs: the admin route and the daily schedule.

``rotate`` adds the next tenant key version (its item and a ``tenant_key.rotate`` event in one
transaction; a lost race is 409 ``rotation_race``; the transaction also checks that the tenant's
offboarding is not confirmed, else 409 ``tenant_offboarding``: offboarding wins, docs/key-lifecycle.md),
then moves everything the old versions wrap to the new one: learner keys (and with them every access
package sealed by a learner key), the subject keys of legal holds, and the e-mail look-ups (re-indexed
under the new index key after decrypting the e-mail), in batches, each batch one transaction with a
``tenant_key.rewrap`` event. A batch that loses
a race (a learner changed or was erased meanwhile) is left for the next run.

Old versions are retired (item deleted with a ``tenant_key.retire`` event) by a later run, once nothing
refers to them and the newest version is older than ``settle`` (so every process has stopped wrapping
with an older version it had cached). The daily schedule rotates tenants whose newest key is older than
``rotate_after`` and otherwise finishes re-wraps and retirements.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

from chalicelib.adapters.audit_store import AuditStore, ChangeRejected
from chalicelib.adapters.data_store import DataStore, envelopes_of, wrapped_learner_key
from chalicelib.adapters.governance_store import GovernanceStore, hold_sk
from chalicelib.domain.audit import format_at
from chalicelib.domain.crypto import Keyring, TenantKeys, WrappedLearnerKey
from chalicelib.domain.errors import Conflict, EnclaveError, TenantOffboarding
from chalicelib.domain.identity import Principal, Role
from chalicelib.domain.learners import name_key
from chalicelib.domain.tenants import Tenant
from chalicelib.logs import logger
from chalicelib.services.access import AccessControl
from chalicelib.services.context import Caller, SystemCaller
from chalicelib.services.keys.tenant_keys import TenantKeyService

BATCH = 40
SYSTEM_SUB = "system:key-rotation"


class RegionDirectory(Protocol):
    def in_region(self, home_region: str) -> list[Tenant]: ...


def _token_version(lookup: str) -> int:
    """The index key version of a stored look-up ``<tenant>#email#<version>.<token>``."""
    head = lookup.rsplit("#", 1)[-1].split(".", 1)[0]
    return int(head) if head.isdigit() else 0


class KeyRotationService:
    def __init__(self, access: AccessControl, keys: TenantKeyService, keyring: Keyring, store: DataStore,
                 governance: GovernanceStore, audit: AuditStore, directory: RegionDirectory,
                 clock: Callable[[], datetime], region: str, *, rotate_after: timedelta = timedelta(days=90),
                 settle: timedelta = timedelta(minutes=15)) -> None:
        self._access = access
        self._keys = keys
        self._keyring = keyring
        self._store = store
        self._governance = governance
        self._audit = audit
        self._directory = directory
        self._clock = clock
        self._region = region
        self._rotate_after = rotate_after
        self._settle = settle

    def rotate(self, caller: Caller, tenant_id: str) -> dict[str, Any]:
        """``POST /v1/tenants/{id}/keys/rotate``."""
        tenant = self._access.tenant(caller.principal, tenant_id, "tenant_key.rotate")
        return self.run(caller, tenant, rotate=True)

    def scheduled(self, request_id: str | None = None) -> dict[str, Any]:
        """The daily run over this region's tenants: rotate the due ones, finish re-wraps, retire."""
        principal = Principal(sub=SYSTEM_SUB, username=SYSTEM_SUB, role=Role.PLATFORM_ADMIN, region=self._region)
        caller = SystemCaller(principal, request_id or f"schedule-{uuid.uuid4()}")
        reports = []
        for tenant in self._directory.in_region(self._region):
            created = self._store.tenant_key_created(tenant.jurisdiction, tenant.tenant_id)
            newest = created.get(max(created), "") if created else ""
            due = bool(created) and (not newest or self._age(newest) >= self._rotate_after)
            try:
                reports.append(self.run(caller, tenant, rotate=due))
            except EnclaveError as exc:
                logger.error("key rotation failed for a tenant", extra={"tenant_id": tenant.tenant_id,
                                                                        "error": exc.code})
        return {"tenants": reports}

    def run(self, caller: Caller, tenant: Tenant, *, rotate: bool) -> dict[str, Any]:
        resource = f"tenants/{tenant.tenant_id}/keys"
        version = None
        if rotate:
            record = self._keyring.rotate(self._keys.reloaded(tenant))
            draft = caller.draft("tenant_key.rotate", resource, version=record.version)
            try:
                self._audit.commit(tenant.tenant_id, tenant.jurisdiction, draft, [
                    self._store.tenant_key_put(tenant.jurisdiction, record, format_at(self._clock())),
                    self._governance.not_offboarded_check(tenant.jurisdiction, tenant.tenant_id)])
            except ChangeRejected as exc:
                if exc.index == 1:
                    raise TenantOffboarding("this tenant's offboarding is confirmed: its keys are being "
                                            "destroyed, not rotated") from None
                raise Conflict("a concurrent rotation created this key version first",
                               reason="rotation_race") from None
            version = record.version
        keys = self._keys.reloaded(tenant)
        moved, failed = self._migrate(caller, tenant, keys, resource)
        retired = [] if failed else self._retire(caller, tenant, keys, resource)
        return {"tenant_id": tenant.tenant_id, "rotated_to": version, "newest_version": keys.newest.version,
                "rewrapped": moved, "incomplete": failed > 0, "retired_versions": retired}

    # -- re-wrap -----------------------------------------------------------------------------------

    def _pending(self, tenant: Tenant, keys: TenantKeys) -> list[Any]:
        """Every change that moves something from an older version to the newest one."""
        j, tid, newest = tenant.jurisdiction, tenant.tenant_id, keys.newest.version
        changes: list[Any] = []
        key_items = {item["sk"]["S"].split("#")[1]: item for item in self._store.learner_key_items(j, tid)}
        for learner_id, item in key_items.items():
            record = wrapped_learner_key(tid, learner_id, item)
            if keys.needs_rewrap(record):
                changes.append(self._store.learner_key_replace(j, keys.rewrap(record), record.tenant_key_version))
        for profile in self._store.profiles(j, tid):
            learner_id = profile["sk"]["S"].split("#")[1]
            lookup = profile.get("lookup_pk", {}).get("S")
            if lookup is None or _token_version(lookup) == newest or learner_id not in key_items:
                continue
            key = self._keys.unwrap(tenant, wrapped_learner_key(tid, learner_id, key_items[learner_id]))
            envelopes = envelopes_of(profile)
            email = key.cipher.decrypt_field("learner", "email", envelopes["email"])
            family = key.cipher.decrypt_field("learner", "family_name", envelopes["family_name"])
            changes.append(self._store.lookup_update(j, tid, learner_id, keys.blind_index("email", email),
                                                     int(profile["version"]["N"]),
                                                     keys.blind_index("family_name", name_key(family))))
        for hold in self._governance.holds(j, tid):
            record = WrappedLearnerKey(tid, hold["hold_id"]["S"], int(hold["key_version"]["N"]),
                                       int(hold["tenant_key_version"]["N"]), hold["fingerprint"]["S"],
                                       hold["blob"]["B"])
            if keys.needs_rewrap(record):
                changes.append(self._store.subject_key_update(j, hold_sk(record.learner_id), keys.rewrap(record),
                                                              record.tenant_key_version))
        return changes

    def _migrate(self, caller: Caller, tenant: Tenant, keys: TenantKeys, resource: str) -> tuple[int, int]:
        changes = self._pending(tenant, keys)
        moved = failed = 0
        for start in range(0, len(changes), BATCH):
            batch = changes[start:start + BATCH]
            draft = caller.draft("tenant_key.rewrap", resource, version=keys.newest.version, count=len(batch))
            guard = self._governance.not_offboarded_check(tenant.jurisdiction, tenant.tenant_id)
            try:
                self._audit.commit(tenant.tenant_id, tenant.jurisdiction, draft, [*batch, guard])
                moved += len(batch)
            except ChangeRejected:
                failed += len(batch)  # something changed meanwhile: the next run picks these up again
        return moved, failed

    # -- retire ------------------------------------------------------------------------------------

    def _retire(self, caller: Caller, tenant: Tenant, keys: TenantKeys, resource: str) -> list[int]:
        created = self._store.tenant_key_created(tenant.jurisdiction, tenant.tenant_id)
        newest = created.get(keys.newest.version, "")
        old = sorted(v for v in created if v < keys.newest.version)
        if not old or not newest or self._age(newest) < self._settle or self._pending(tenant, keys):
            return []
        changes = [self._store.tenant_key_delete(tenant.jurisdiction, tenant.tenant_id, v) for v in old]
        draft = caller.draft("tenant_key.retire", resource, versions=old, newest_version=keys.newest.version)
        try:
            self._audit.commit(tenant.tenant_id, tenant.jurisdiction, draft, changes)
        except ChangeRejected:
            return []
        self._keys.evict(tenant.tenant_id)
        return old

    def _age(self, at: str) -> timedelta:
        return self._clock() - datetime.fromisoformat(at.replace("Z", "+00:00"))

