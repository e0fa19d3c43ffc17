"""Standing obligations of a tenant: the list with each one's status, and the evidence that closes one.

Which obligations bind a tenant: its jurisdiction's pack and its state's overlay, filtered by sector
(``applicable.obligations_of``). Status from the latest evidence (``domain.obligations.standing``).
Reading the list is audited as ``obligation.read``; recording evidence is one transaction with its
``obligation.evidence`` event.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from datetime import date, datetime
from typing import Any

from chalicelib.adapters.audit_store import AuditStore, ChangeRejected
from chalicelib.adapters.obligation_store import ObligationStore
from chalicelib.domain.applicable import TenantScope, obligations_of
from chalicelib.domain.audit import format_at
from chalicelib.domain.catalog import JurisdictionCatalog
from chalicelib.domain.errors import NotFound
from chalicelib.domain.obligations import Obligation, standing
from chalicelib.domain.obligations_api import EvidenceCreate
from chalicelib.domain.tenants import Tenant
from chalicelib.services.access import AccessControl
from chalicelib.services.context import Caller


def obligations_resource(tenant_id: str, key: str | None = None) -> str:
    base = f"tenants/{tenant_id}/obligations"
    return f"{base}/{key}" if key else base


class ObligationService:
    def __init__(self, access: AccessControl, store: ObligationStore, audit: AuditStore,
                 jurisdictions: JurisdictionCatalog, clock: Callable[[], datetime]) -> None:
        self._access = access
        self._store = store
        self._audit = audit
        self._jurisdictions = jurisdictions
        self._clock = clock

    def list(self, caller: Caller, tenant_id: str) -> dict[str, Any]:
        """``GET .../obligations``: every obligation binding the tenant, with its status and evidence date."""
        tenant = self._access.tenant(caller.principal, tenant_id, "obligation.read")
        today = self._clock().date()
        evidence = self._store.latest(tenant.jurisdiction, tenant.tenant_id)
        items = [self._item(pack, obligation, evidence.get(obligation.key), today)
                 for pack, obligation in obligations_of(self._jurisdictions, TenantScope.of(tenant))]
        counts = {status: sum(item["status"] == status for item in items)
                  for status in ("due", "lapsed", "met", "on_event", "pending")}
        self._audit.commit(tenant.tenant_id, tenant.jurisdiction, caller.draft(
            "obligation.read", obligations_resource(tenant.tenant_id), count=len(items), **counts))
        return {"tenant_id": tenant.tenant_id, "as_of": today.isoformat(), "summary": counts, "items": items}

    def record_evidence(self, caller: Caller, tenant_id: str, key: str, body: EvidenceCreate) -> dict[str, Any]:
        """``POST .../obligations/{key}/evidence``: the tenant has done it (on ``evidenced_on``)."""
        tenant = self._access.tenant(caller.principal, tenant_id, "obligation.evidence")
        now = self._clock()
        pack, obligation = self._binding(tenant, key)
        evidenced_on = body.checked_day(now.date())
        change = self._store.evidence(tenant.jurisdiction, tenant.tenant_id, key, evidenced_on, format_at(now),
                                      caller.principal.sub, body.reference)
        draft = caller.draft("obligation.evidence", obligations_resource(tenant.tenant_id, key), obligation=key,
                             law=pack, evidenced_on=evidenced_on.isoformat(), reference=body.reference is not None)
        with suppress(ChangeRejected):  # the same evidence was recorded before (a retry): the answer is the same
            self._audit.commit(tenant.tenant_id, tenant.jurisdiction, draft, [change])
        latest = self._store.latest(tenant.jurisdiction, tenant.tenant_id).get(key)
        return self._item(pack, obligation, latest, now.date())

    def _binding(self, tenant: Tenant, key: str) -> tuple[str, Obligation]:
        for pack, obligation in obligations_of(self._jurisdictions, TenantScope.of(tenant)):
            if obligation.key == key:
                return pack, obligation
        raise NotFound("no such obligation for this tenant")

    @staticmethod
    def _item(pack: str, obligation: Obligation, evidence: dict[str, str] | None, today: date) -> dict[str, Any]:
        evidenced_on = date.fromisoformat(evidence["evidenced_on"]) if evidence else None
        item: dict[str, Any] = {
            "key": obligation.key, "title": obligation.title, "law": pack, "who": obligation.who,
            "trigger": obligation.trigger, "every_months": obligation.every_months, "evidence": obligation.evidence,
            "rule": obligation.rule, "sources": list(obligation.sources), "confidence": obligation.confidence,
            "in_force_from": obligation.in_force_from, **standing(obligation, evidenced_on, today),
        }
        if evidence and "reference" in evidence:
            item["reference"] = evidence["reference"]
        return item
