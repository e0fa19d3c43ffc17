"""Listing incidents recorded before ``GET /v1/incidents`` existed (a one-off job, safe to repeat).

The list route queries the ``by_lookup`` index (``lookup_pk`` = ``INC#<region>``, ``lookup_sk`` =
``<recorded_at>#<incident_id>``); incident items written before it carry neither attribute, so they
were readable by id only. ``migrate`` finds this region's incidents in the audit trails of the
tenants homed here (every incident writes ``incident.create`` in the chain of each resident tenant it
names: the trail is the incident's record, and reading it needs no Scan of a personal-data table)
and adds the two attributes (identifiers and the recorded time only; nothing else of the item
changes). Each addition lands in one transaction with an ``incident.indexed`` event in the chain of
the first resident tenant still homed here, then the same event goes to the chain of every other
one. Idempotent: the update is conditional on the attribute being absent, an item that has it is
left alone, and a second run finds nothing to add.

Run it (``python -m chalicelib.cli migrate-incidents``) once per region with the deployment's settings.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from chalicelib.adapters.audit_store import AuditStore, ChangeRejected
from chalicelib.adapters.incident_store import IncidentStore
from chalicelib.domain.identity import Principal, Role
from chalicelib.domain.tenants import Tenant
from chalicelib.services.context import SystemCaller
from chalicelib.services.restore import RegionDirectory

SYSTEM_SUB = "system:migrate-incidents"
ACTION = "incident.indexed"


@dataclass
class IncidentMigrationReport:
    region: str
    jurisdiction: str
    tenants: int = 0
    incidents: int = 0
    indexed: list[str] = field(default_factory=list)
    already_indexed: int = 0
    missing: int = 0

    def view(self) -> dict[str, Any]:
        return {"region": self.region, "jurisdiction": self.jurisdiction, "tenants": self.tenants,
                "incidents": self.incidents, "indexed": len(self.indexed), "already_indexed": self.already_indexed,
                "missing": self.missing, "incident_ids": sorted(self.indexed)}


def incidents_in(events: Iterable[dict[str, Any]]) -> set[str]:
    """The ids of the incidents recorded in a tenant's trail (its ``incident.create`` events)."""
    found = set()
    for event in events:
        incident_id = (event.get("details") or {}).get("incident_id")
        if event.get("action") == "incident.create" and isinstance(incident_id, str):
            found.add(incident_id)
    return found


class IncidentMigration:
    """Adds the list index's attributes to this region's incidents that lack them, audited."""

    def __init__(self, directory: RegionDirectory, audit: AuditStore, store: IncidentStore, jurisdiction: str,
                 region: str) -> None:
        self._directory = directory
        self._audit = audit
        self._store = store
        self._jurisdiction = jurisdiction
        self._region = region

    def migrate(self, request_id: str | None = None) -> IncidentMigrationReport:
        principal = Principal(sub=SYSTEM_SUB, username=SYSTEM_SUB, role=Role.PLATFORM_ADMIN, region=self._region)
        caller = SystemCaller(principal, request_id or f"migrate-incidents-{uuid.uuid4()}")
        report = IncidentMigrationReport(self._region, self._jurisdiction)
        tenants = {tenant.tenant_id: tenant for tenant in self._directory.in_region(self._region)
                   if tenant.jurisdiction == self._jurisdiction}
        report.tenants = len(tenants)
        recorded: set[str] = set()
        for tenant_id in sorted(tenants):
            recorded |= incidents_in(self._audit.events(tenant_id, self._jurisdiction))
        report.incidents = len(recorded)
        for incident_id in sorted(recorded):
            self._index_one(caller, incident_id, tenants, report)
        return report

    def _index_one(self, caller: SystemCaller, incident_id: str, tenants: dict[str, Tenant],
                   report: IncidentMigrationReport) -> None:
        stored = self._store.stored(self._jurisdiction, incident_id)
        if stored is None:
            report.missing += 1  # not expected: the item lands with the first tenant's event
            return
        doc, listed = stored
        if listed:
            report.already_indexed += 1
            return
        named = [tenant_id for tenant_id in sorted(doc["affected"]["by_tenant"]) if tenant_id in tenants]
        draft = {tenant_id: caller.draft(ACTION, f"incidents/{incident_id}", incident_id=incident_id,
                                         index="by_lookup", recorded_at=doc["recorded_at"])
                 for tenant_id in named}
        try:
            self._audit.commit(named[0], self._jurisdiction, draft[named[0]],
                               [self._store.add_lookup(self._jurisdiction, doc)])
        except ChangeRejected:  # another run indexed it between our read and our write
            report.already_indexed += 1
            return
        for tenant_id in named[1:]:
            self._audit.commit(tenant_id, self._jurisdiction, draft[tenant_id])
        report.indexed.append(incident_id)
