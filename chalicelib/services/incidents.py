"""Incidents: record a suspected breach, compute every regulator's deadlines, list who is affected.

``POST /v1/incidents`` (regional admins for the tenants of their region, platform admins):

* each named tenant is authorized first (``incident.create`` on the tenant: 404 unknown or unrelated,
  403 related but not allowed); one refusal refuses the whole request and nothing is recorded;
* deadlines are computed for every affected jurisdiction, wherever its tenants live (the law packs
  are the same in every region);
* affected learners can only be read from the audit trails of tenants homed in **this** region
  (the trails never leave their home region). Tenants homed elsewhere are listed under
  ``affected.unavailable_tenants`` with their home region and endpoint: record the incident there
  too for their learners. When no named tenant is homed here there is nothing this region can
  record, and the answer is 421 pointing to the first tenant's home region;
* an ``incident.create`` event (identifiers, times, deadlines and counts; never the summary) is
  appended to each resident tenant's chain. That event is the incident's record (the breach log of
  UK GDPR Art. 33(5)); the learner list is reproducible from the recorded window.

Retrying the request records a second incident (no ``Idempotency-Key`` support yet: an incident
spans tenants, so there is no single tenant transaction to claim the key in).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from chalicelib.adapters.audit_store import AuditStore
from chalicelib.domain.audit import format_at
from chalicelib.domain.deadlines import iso_utc
from chalicelib.domain.errors import ValidationFailed
from chalicelib.domain.ids import new_id
from chalicelib.domain.incidents import IncidentCreate, deadlines_for, learners_mentioned
from chalicelib.domain.jurisdictions import JurisdictionCatalog
from chalicelib.domain.tenants import Tenant
from chalicelib.services.access import AccessControl
from chalicelib.services.context import Caller


class IncidentService:
    def __init__(self, access: AccessControl, jurisdictions: JurisdictionCatalog, audit: AuditStore,
                 clock: Callable[[], datetime], region: str, endpoint_of: Callable[[str], str],
                 evict_keys: Callable[[str], object] | None = None) -> None:
        self._evict_keys = evict_keys or (lambda tenant_id: None)
        self._access = access
        self._jurisdictions = jurisdictions
        self._audit = audit
        self._clock = clock
        self._region = region
        self._endpoint_of = endpoint_of

    def create(self, caller: Caller, body: IncidentCreate) -> dict[str, Any]:
        now = self._clock()
        if body.discovered_at > now:
            raise ValidationFailed([{"field": "discovered_at", "message": "must not be in the future"}])
        tenants = [self._access.tenant(caller.principal, tenant_id, "incident.create", resident=False)
                   for tenant_id in body.tenant_ids]
        resident = [tenant for tenant in tenants if tenant.home_region == self._region]
        elsewhere = [tenant for tenant in tenants if tenant.home_region != self._region]
        if not resident:
            self._access.require_home(tenants[0].home_region)  # 421 with the home endpoint
        for tenant in resident:  # a suspected compromise: the next use of their keys asks KMS again
            self._evict_keys(tenant.tenant_id)
        incident_id = new_id("inc")
        window_from = body.discovered_at - timedelta(days=body.lookback_days)
        deadlines = deadlines_for(body.discovered_at, {self._jurisdictions.get(t.jurisdiction).code:
                                                       self._jurisdictions.get(t.jurisdiction)
                                                       for t in tenants}.values(), now)
        by_tenant = {tenant.tenant_id: sorted(self._learners(tenant, window_from, now)) for tenant in resident}
        for tenant in resident:
            own = [{"party": d["party"], "action": d["action"], "due_at": d["due_at"]}
                   for d in deadlines if d["jurisdiction"] == tenant.jurisdiction]
            draft = caller.draft(
                "incident.create", f"incidents/{incident_id}", incident_id=incident_id,
                discovered_at=iso_utc(body.discovered_at), window_from=format_at(window_from),
                window_to=format_at(now), jurisdiction=tenant.jurisdiction, deadlines=own,
                affected_learners=len(by_tenant[tenant.tenant_id]), affected_tenants=len(tenants),
                unavailable_tenants=len(elsewhere), summary_stored=False)
            self._audit.commit(tenant.tenant_id, tenant.jurisdiction, draft)
        return {
            "incident_id": incident_id,
            "discovered_at": iso_utc(body.discovered_at),
            "recorded_at": format_at(now),
            "window": {"from": format_at(window_from), "to": format_at(now), "lookback_days": body.lookback_days},
            "deadlines": deadlines,
            "affected": {
                "tenants": [tenant.tenant_id for tenant in tenants],
                "learners": sorted({lid for ids in by_tenant.values() for lid in ids}),
                "by_tenant": by_tenant,
                "unavailable_tenants": [
                    {"tenant_id": t.tenant_id, "jurisdiction": t.jurisdiction, "home_region": t.home_region,
                     "endpoint": self._endpoint_of(t.home_region),
                     "reason": "its audit trail is kept in its home region: record the incident there"}
                    for t in elsewhere],
            },
            "summary_stored": False,
        }

    def _learners(self, tenant: Tenant, start: datetime, end: datetime) -> set[str]:
        seqs = self._audit.seq_range(tenant.tenant_id, tenant.jurisdiction, format_at(start), format_at(end))
        if seqs is None:
            return set()
        return learners_mentioned(self._audit.events(tenant.tenant_id, tenant.jurisdiction, *seqs))
