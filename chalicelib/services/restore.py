"""Re-applying erasures, offboardings and legal holds to a restored table before it serves traffic.

A point-in-time restore of a personal-data table brings back the state of the table at that time.
Learner and tenant keys live in the key table, which has no point-in-time recovery and is never
restored, so a restored data table alone opens nothing of a learner erased since; but a backup taken
before the keys moved out (``cli migrate-keys``) still holds key items, and a restored table still
shows erased learners' profiles (as ciphertext) until their tombstones are back. The audit trail
(a separate table, never restored over) records every erasure (``learner.erase``,
``retention.shred``); ``reapply`` walks the trail of every tenant ever homed in this region (offboarded
ones included: the directory keeps their tombstoned entries) and, for each erased learner, deletes a key
item the copy still holds and writes the tombstone in the restored table, each learner in one
transaction with a ``backup.erasure_reapplied`` event in the live trail; then it drops every other key
item left in the copy (the live key table is the only source of keys; an offboarded tenant has none
left anywhere), audited as ``backup.legacy_keys_removed``. Legal holds placed or lifted after the backup
are known only to the live table: their items and markers are copied into the restored table
(``backup.holds_reapplied``), so a hold keeps blocking erasure and retention once the copy serves.
Idempotent: a second run changes nothing. The live table's own name is refused (``BadRequest``, nothing
touched).

Run it (``python -m chalicelib.cli restore ...``) on the restored table, under its temporary name,
before traffic is switched to it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from chalicelib.adapters.audit_store import AuditStore
from chalicelib.adapters.data_store import DataStore, learner_key_sk
from chalicelib.adapters.legacy_keys import LegacyKeyItems
from chalicelib.adapters.restored_copy import RestoredCopy
from chalicelib.domain.identity import Principal, Role
from chalicelib.domain.tenants import Tenant
from chalicelib.services.context import SystemCaller

ERASURE_ACTIONS = frozenset({"learner.erase", "retention.shred"})
SYSTEM_SUB = "system:restore-tool"
LEGACY_BATCH = 50  # key items dropped (or hold items copied) per audited transaction (TransactWriteItems takes 100)


class RegionDirectory(Protocol):
    def in_region(self, home_region: str) -> list[Tenant]: ...


class RegionHistory(Protocol):
    """Every tenant ever homed in a region, with its ``offboarded_at`` (None while live)."""

    def ever_in_region(self, home_region: str) -> list[tuple[Tenant, str | None]]: ...


@dataclass
class RestoreReport:
    jurisdiction: str
    tenants: int = 0
    offboarded_tenants: int = 0
    erasures_in_trail: int = 0
    keys_deleted: int = 0
    legacy_keys_removed: int = 0
    holds_reapplied: int = 0
    learners: list[str] = field(default_factory=list)

    def view(self) -> dict[str, Any]:
        return {"jurisdiction": self.jurisdiction, "tenants": self.tenants,
                "offboarded_tenants": self.offboarded_tenants,
                "erasures_in_trail": self.erasures_in_trail, "keys_deleted": self.keys_deleted,
                "learners_reapplied": len(self.learners), "legacy_keys_removed": self.legacy_keys_removed,
                "holds_reapplied": self.holds_reapplied}


def erasures(events: Iterable[dict[str, Any]]) -> Iterator[tuple[str, str, str]]:
    """``(learner_id, erased_at, key_fingerprint)`` of every successful erasure in ``events``."""
    for event in events:
        details = event.get("details") or {}
        if event.get("action") in ERASURE_ACTIONS and event.get("outcome") == "success" \
                and isinstance(details.get("learner_id"), str):
            yield details["learner_id"], str(event.get("at", "")), str(details.get("key_fingerprint", ""))


class RestoreService:
    """Re-applies the erasures of the audit trail to a restored copy (``restored`` names its table)."""

    def __init__(self, directory: RegionHistory, audit: AuditStore, restored: DataStore, legacy: LegacyKeyItems,
                 copy: RestoredCopy, region: str) -> None:
        self._directory = directory
        self._audit = audit
        self._restored = restored
        self._legacy = legacy
        self._copy = copy
        self._region = region

    def reapply(self, jurisdiction: str, request_id: str | None = None) -> RestoreReport:
        self._copy.require_not_live(jurisdiction)
        principal = Principal(sub=SYSTEM_SUB, username=SYSTEM_SUB, role=Role.PLATFORM_ADMIN, region=self._region)
        caller = SystemCaller(principal, request_id or f"restore-{uuid.uuid4()}")
        report = RestoreReport(jurisdiction)
        for tenant, offboarded_at in self._directory.ever_in_region(self._region):
            if tenant.jurisdiction != jurisdiction:
                continue
            report.tenants += 1
            report.offboarded_tenants += offboarded_at is not None
            erased = {learner: (at, fp) for learner, at, fp in
                      erasures(self._audit.events(tenant.tenant_id, jurisdiction))}
            report.erasures_in_trail += len(erased)
            legacy = {item["sk"]["S"]: item for item in self._legacy.items(jurisdiction, tenant.tenant_id)}
            for learner_id, (erased_at, fingerprint) in sorted(erased.items()):
                legacy_key = legacy.pop(learner_key_sk(learner_id), None)
                self._reapply_one(caller, tenant, learner_id, erased_at, fingerprint, legacy_key is not None, report)
            self._drop_legacy_keys(caller, tenant, list(legacy.values()), report)
            if offboarded_at is None:  # an offboarded tenant had no hold (offboarding waits for the last lift)
                self._reapply_holds(caller, tenant, report)
        return report

    def _reapply_holds(self, caller: SystemCaller, tenant: Tenant, report: RestoreReport) -> None:
        stale = self._copy.stale_holds(tenant.jurisdiction, tenant.tenant_id)
        for start in range(0, len(stale), LEGACY_BATCH):
            batch = stale[start:start + LEGACY_BATCH]
            hold_ids = sorted(item["hold_id"]["S"] for item in batch if "hold_id" in item)
            draft = caller.draft("backup.holds_reapplied", f"tenants/{tenant.tenant_id}/legal-holds",
                                 hold_ids=hold_ids, markers=len(batch) - len(hold_ids),
                                 table=self._restored.table(tenant.jurisdiction))
            self._audit.commit(tenant.tenant_id, tenant.jurisdiction, draft,
                               [self._copy.put(tenant.jurisdiction, item) for item in batch])
            report.holds_reapplied += len(hold_ids)

    def _drop_legacy_keys(self, caller: SystemCaller, tenant: Tenant, items: list[dict[str, Any]],
                          report: RestoreReport) -> None:
        for start in range(0, len(items), LEGACY_BATCH):
            batch = items[start:start + LEGACY_BATCH]
            draft = caller.draft("backup.legacy_keys_removed", f"tenants/{tenant.tenant_id}",
                                 count=len(batch), table=self._restored.table(tenant.jurisdiction))
            self._audit.commit(tenant.tenant_id, tenant.jurisdiction, draft,
                               [self._legacy.delete(tenant.jurisdiction, {"pk": i["pk"], "sk": i["sk"]})
                                for i in batch])
            report.legacy_keys_removed += len(batch)

    def _reapply_one(self, caller: SystemCaller, tenant: Tenant, learner_id: str, erased_at: str,
                     fingerprint: str, has_key: bool, report: RestoreReport) -> None:
        profile = self._restored.learner_items(tenant.jurisdiction, tenant.tenant_id, learner_id).get("P")
        if not has_key and (profile is None or "erased_at" in profile):
            return  # nothing of this learner to undo in the copy
        changes = self._restored.erasure_reapply(tenant.jurisdiction, tenant.tenant_id, learner_id, erased_at,
                                                 fingerprint, delete_key=has_key)
        draft = caller.draft("backup.erasure_reapplied", f"tenants/{tenant.tenant_id}/learners/{learner_id}",
                             learner_id=learner_id, key_deleted=has_key,
                             table=self._restored.table(tenant.jurisdiction))
        self._audit.commit(tenant.tenant_id, tenant.jurisdiction, draft, changes)
        report.keys_deleted += int(has_key)
        report.learners.append(learner_id)
