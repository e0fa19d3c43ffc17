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

The answer is recorded (``IncidentStore``, in the transaction of the first resident tenant's event) and
``GET /v1/incidents/{incident_id}`` returns it as the POST answered it, to callers who may still act on
every tenant it names. ``GET /v1/incidents`` pages through the region's incidents, newest first (Cedar
``incident.list`` on the Region: regional admins and compliance officers of the region, platform admins),
each with its deadlines and counts. An incident is listed when it names at least one tenant of the caller's
scope (``tenant.read``): those tenants are listed with their names, the others only counted
(``tenants_outside_scope``), never a reason to leave the incident out; one naming no tenant of the scope is
left out (so a page may hold fewer than ``limit``). Every page is recorded as ``incident.list`` in the chain
of each resident tenant of the scope it names.
``Idempotency-Key``: the claim is scoped to the first resident tenant and written
in that same transaction, so a retry answers the same incident. The summary is left out of the claim's
fingerprint and is stored nowhere: it may name people, and no one subject's key could make it die with
them (an incident spans learners and tenants). A retry that differs only in its summary therefore
answers the first incident, whose record never held a summary.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from chalicelib.adapters.audit_store import AuditStore, ChangeRejected
from chalicelib.adapters.incident_store import IncidentStore
from chalicelib.domain.applicable import TenantScope
from chalicelib.domain.audit import format_at
from chalicelib.domain.audit.time_range import within
from chalicelib.domain.catalog import JurisdictionCatalog
from chalicelib.domain.deadlines import iso_utc
from chalicelib.domain.errors import Conflict, NotFound, ValidationFailed
from chalicelib.domain.ids import new_id, require_id
from chalicelib.domain.incidents import IncidentCreate, deadlines_for, learners_mentioned
from chalicelib.domain.paging import PageRequest, page
from chalicelib.domain.tenants import Tenant
from chalicelib.services.access import AccessControl
from chalicelib.services.context import Caller
from chalicelib.services.idempotency import Idempotency


class IncidentService:
    def __init__(self, access: AccessControl, jurisdictions: JurisdictionCatalog, audit: AuditStore,
                 clock: Callable[[], datetime], region: str, endpoint_of: Callable[[str], str],
                 store: IncidentStore, idempotency: Idempotency,
                 evict_keys: Callable[[str], object] | None = None) -> None:
        self._store = store
        self._idempotency = idempotency
        self._evict_keys = evict_keys or (lambda tenant_id: None)
        self._access = access
        self._jurisdictions = jurisdictions
        self._audit = audit
        self._clock = clock
        self._region = region
        self._endpoint_of = endpoint_of

    def get(self, caller: Caller, incident_id: str) -> dict[str, Any]:
        """The recorded incident, once the caller may read it on every tenant it names (else 404/403).

        The read is audited in the trail of each tenant of this region it names (``incident.read``)."""
        require_id(incident_id, "inc", "incident")
        jurisdiction = self._jurisdictions.by_region(self._region).code
        doc = self._store.get(jurisdiction, incident_id)
        if doc is None:
            raise NotFound("no such incident in this region")
        for tenant_id in doc["affected"]["tenants"]:  # 404 for a tenant not theirs, 403 if theirs but not allowed
            self._access.tenant(caller.principal, tenant_id, "incident.read", resident=False)
        for tenant_id in sorted(doc["affected"]["by_tenant"]):
            self._audit.commit(tenant_id, jurisdiction, caller.draft("incident.read", f"incidents/{incident_id}",
                                                                     incident_id=incident_id))
        return doc

    def list_page(self, caller: Caller, request: PageRequest) -> dict[str, object]:
        """One page of this region's incidents, newest first: deadlines and counts (no learner id)."""
        self._access.region(caller.principal, "incident.list")
        jurisdiction = self._jurisdictions.by_region(self._region).code
        if request.after is not None:
            require_id(request.after, "inc", "incident")
        docs, last = self._store.page(jurisdiction, request.after, request.limit)
        known: dict[str, Tenant | None] = {}
        listed: list[tuple[dict[str, Any], list[Tenant]]] = []
        for doc in docs:
            found = (self._in_scope(caller, tenant_id, known) for tenant_id in doc["affected"]["tenants"])
            in_scope = [tenant for tenant in found if tenant is not None]
            if in_scope:
                listed.append((doc, in_scope))
        named: dict[str, int] = {}
        for doc, in_scope in listed:
            for tenant in in_scope:
                if tenant.tenant_id in doc["affected"]["by_tenant"]:
                    named[tenant.tenant_id] = named.get(tenant.tenant_id, 0) + 1
        for tenant_id, count in sorted(named.items()):
            self._audit.commit(tenant_id, jurisdiction, caller.draft("incident.list", f"tenants/{tenant_id}/incidents",
                                                                     count=count, page_size=len(listed)))
        return page([listed_incident(doc, in_scope) for doc, in_scope in listed], last)

    def _in_scope(self, caller: Caller, tenant_id: str, known: dict[str, Tenant | None]) -> Tenant | None:
        if tenant_id not in known:
            known[tenant_id] = self._access.readable(caller.principal, tenant_id, "tenant.read")
        return known[tenant_id]

    def create(self, caller: Caller, body: IncidentCreate, idempotency_key: str | None = None) -> dict[str, Any]:
        now = self._clock()
        if body.discovered_at > now:
            raise ValidationFailed([{"field": "discovered_at", "message": "must not be in the future"}])
        tenants = [self._access.tenant(caller.principal, tenant_id, "incident.create", resident=False)
                   for tenant_id in body.tenant_ids]
        resident = [tenant for tenant in tenants if tenant.home_region == self._region]
        elsewhere = [tenant for tenant in tenants if tenant.home_region != self._region]
        if not resident:
            self._access.require_home(tenants[0].home_region)  # 421 with the home endpoint
        scope = self._idempotency.scope(caller, resident[0], "incidents", body, idempotency_key, ("summary",))
        earlier = self._idempotency.earlier(scope)
        if earlier is not None:
            return self._recorded(earlier)
        for tenant in resident:  # a suspected compromise: the next use of their keys asks KMS again
            self._evict_keys(tenant.tenant_id)
        incident_id = new_id("inc")
        window_from = body.discovered_at - timedelta(days=body.lookback_days)
        deadlines = deadlines_for(body.discovered_at, self._jurisdictions,
                                  [TenantScope.of(t) for t in tenants], now)
        by_tenant = {tenant.tenant_id: sorted(self._learners(tenant, window_from, now)) for tenant in resident}
        answer = self._answer(incident_id, body, now, window_from, deadlines, tenants, by_tenant, elsewhere)
        for n, tenant in enumerate(resident):
            own = [{"party": d["party"], "action": d["action"], "due_at": d["due_at"]}
                   for d in deadlines if _of_scope(d, TenantScope.of(tenant))]
            draft = caller.draft(
                "incident.create", f"incidents/{incident_id}", incident_id=incident_id,
                discovered_at=iso_utc(body.discovered_at), window_from=format_at(window_from),
                window_to=format_at(now), jurisdiction=tenant.jurisdiction, deadlines=own,
                affected_learners=len(by_tenant[tenant.tenant_id]), affected_tenants=len(tenants),
                unavailable_tenants=len(elsewhere), summary_stored=False)
            record = [self._store.put(tenant.jurisdiction, answer), *self._idempotency.claims(scope, incident_id)]
            try:
                self._audit.commit(tenant.tenant_id, tenant.jurisdiction, draft, record if n == 0 else ())
            except ChangeRejected:
                earlier = self._idempotency.earlier(scope)  # a concurrent retry recorded it first
                if earlier is None:
                    raise Conflict("the incident could not be recorded; retry") from None
                return self._recorded(earlier)
        return answer

    def _recorded(self, incident_id: str) -> dict[str, Any]:
        doc = self._store.get(self._jurisdictions.by_region(self._region).code, incident_id)
        if doc is None:
            raise Conflict("the incident of this Idempotency-Key is not recorded; retry with a new key")
        return doc

    def _answer(self, incident_id: str, body: IncidentCreate, now: datetime, window_from: datetime,
                deadlines: list[dict[str, Any]], tenants: list[Tenant], by_tenant: dict[str, list[str]],
                elsewhere: list[Tenant]) -> dict[str, Any]:
        return {
            "incident_id": incident_id,
            "discovered_at": iso_utc(body.discovered_at),
            "discovery_basis": body.discovery_basis,
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
        low, high = format_at(start), format_at(end)
        seqs = self._audit.seq_range(tenant.tenant_id, tenant.jurisdiction, low, high)
        if seqs is None:
            return set()
        return learners_mentioned(within(self._audit.events(tenant.tenant_id, tenant.jurisdiction, *seqs), low, high))


def listed_incident(doc: dict[str, Any], in_scope: list[Tenant]) -> dict[str, object]:
    """An incident as the list shows it: times, deadlines, the tenants of the caller's scope (ids and names),
    how many it names outside that scope (never which), and counts."""
    affected = doc["affected"]
    scope_ids = {tenant.tenant_id for tenant in in_scope}
    return {"incident_id": doc["incident_id"], "discovered_at": doc["discovered_at"],
            "recorded_at": doc["recorded_at"], "deadlines": doc["deadlines"],
            "tenants": [tenant.tenant_id for tenant in in_scope],
            "tenant_names": {tenant.tenant_id: tenant.name for tenant in in_scope},
            "tenants_outside_scope": len([t for t in affected["tenants"] if t not in scope_ids]),
            "affected_learners": sum(len(affected["by_tenant"].get(t, ())) for t in scope_ids),
            "unavailable_tenants": len(affected["unavailable_tenants"])}


def _of_scope(duty: dict[str, Any], scope: TenantScope) -> bool:
    return (duty["jurisdiction"], duty.get("state"), duty.get("sector")) == \
        (scope.jurisdiction, scope.state, scope.sector)
