"""Moving key items out of a data table into the jurisdiction's key table (a one-off job).

Releases before the key table kept wrapped learner keys (``L#<id>#K``) and tenant key versions
(``TKEY#<v>``) in the data table, which has point-in-time recovery: a restore of it revived erased
learners. ``migrate`` moves every such item of every tenant homed in this region, each in its own
transaction (put in the key table, delete from the data table) with a ``keys.migrated`` event in the
tenant's trail (identifiers only: which key item, and ``result``: moved, already there, or not moved).
Idempotent: an item already in the key table is only deleted from the data table, and a second run finds
nothing to move. Run it (``python -m chalicelib.cli migrate-keys --jurisdiction UK``) once per
jurisdiction right after the release that adds the key table, before traffic reaches the new code
(which reads keys only there).

Keys whose death is final are never moved. A learner erased between that release and this job left a
tombstone but destroyed no key (the new code found none in the key table): their copy is deleted, not
moved, in a transaction that checks the tombstone is there (and a move checks it is not, so an erasure
landing meanwhile makes the move fail and be planned again). An offboarded tenant's key items (its keys
were destroyed) are deleted too. Both are counted as ``skipped_erased`` / ``skipped_offboarded``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from chalicelib.adapters.audit_store import AuditStore, ChangeRejected
from chalicelib.adapters.legacy_keys import LegacyKeyItems
from chalicelib.domain.identity import Principal, Role
from chalicelib.services.context import SystemCaller
from chalicelib.services.restore import RegionHistory

SYSTEM_SUB = "system:key-migration"
MIGRATED = "keys.migrated"


@dataclass
class MigrationReport:
    jurisdiction: str
    tenants: int = 0
    moved: int = 0
    already_moved: int = 0
    skipped_erased: int = 0
    skipped_offboarded: int = 0

    def view(self) -> dict[str, Any]:
        return {"jurisdiction": self.jurisdiction, "tenants": self.tenants, "moved": self.moved,
                "already_moved": self.already_moved, "skipped_erased": self.skipped_erased,
                "skipped_offboarded": self.skipped_offboarded}


def key_item(sk: str) -> dict[str, str]:
    """What an audit event may say about a key item: its kind and the learner id or key version (no key)."""
    if sk.startswith("TKEY#"):
        return {"kind": "tenant_key", "version": sk[len("TKEY#"):]}
    return {"kind": "learner_key", "learner_id": sk[len("L#"):-len("#K")]}


class KeyMigration:
    """Moves legacy key items of one region's tenants from their data table to their key table, audited."""

    def __init__(self, directory: RegionHistory, legacy: LegacyKeyItems, audit: AuditStore, region: str) -> None:
        self._directory = directory
        self._legacy = legacy
        self._audit = audit
        self._region = region

    def migrate(self, jurisdiction: str, request_id: str | None = None) -> MigrationReport:
        principal = Principal(sub=SYSTEM_SUB, username=SYSTEM_SUB, role=Role.PLATFORM_ADMIN, region=self._region)
        caller = SystemCaller(principal, request_id or f"migrate-keys-{uuid.uuid4()}")
        report = MigrationReport(jurisdiction)
        for tenant, offboarded_at in self._directory.ever_in_region(self._region):
            if tenant.jurisdiction != jurisdiction:
                continue
            report.tenants += 1
            for item in self._legacy.items(jurisdiction, tenant.tenant_id):
                key = {"pk": item["pk"], "sk": item["sk"]}
                outcome = (self._destroy(caller, tenant.tenant_id, jurisdiction, key) if offboarded_at
                           else self._move(caller, tenant.tenant_id, jurisdiction, key))
                report.moved += outcome == "moved"
                report.already_moved += outcome == "already_moved"
                report.skipped_erased += outcome == "erased"
                report.skipped_offboarded += outcome == "offboarded"
        return report

    def _move(self, caller: SystemCaller, tenant_id: str, jurisdiction: str, key: dict[str, Any]) -> str | None:
        for _ in range(2):  # a condition failed: the item or the learner changed meanwhile; plan again once
            planned = self._legacy.move(jurisdiction, key)
            if planned is None:
                return None
            outcome, changes = planned
            draft = caller.draft(MIGRATED, f"tenants/{tenant_id}", result=outcome, **key_item(key["sk"]["S"]))
            try:
                self._audit.commit(tenant_id, jurisdiction, draft, changes)
            except ChangeRejected:  # moved or deleted by a concurrent run, or the learner erased, meanwhile
                continue
            return outcome
        return None

    def _destroy(self, caller: SystemCaller, tenant_id: str, jurisdiction: str, key: dict[str, Any]) -> str | None:
        draft = caller.draft(MIGRATED, f"tenants/{tenant_id}", result="offboarded", **key_item(key["sk"]["S"]))
        try:
            self._audit.commit(tenant_id, jurisdiction, draft, self._legacy.destroy(jurisdiction, key))
        except ChangeRejected:  # deleted by a concurrent run meanwhile
            return None
        return "offboarded"
