"""Onboarding tenants, reading their directory entries and listing a region's tenants (audited).

After onboarding, the global entry's routing table gets the tenant's route (``on_onboarded``, see
``services/edge_routes.py``); its outcome is part of the answer (``edge_route``) so that a failure is
never silent. Each page of ``GET /v1/tenants`` is recorded as ``tenant.list`` in the chain of every
tenant it lists (the count of the page), as the learners list is.

Onboarding honours ``Idempotency-Key``: the key is claimed for the new tenant id before the tenant's
key and directory entry are written, so a retry (even after a crash in between) answers, or finishes,
the same tenant.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from chalicelib.domain.errors import Conflict, ValidationFailed
from chalicelib.domain.ids import new_id
from chalicelib.domain.paging import page
from chalicelib.domain.tenants import Tenant

if TYPE_CHECKING:  # a tenant read (a common first request) imports neither the audit trail's nor the keys' modules
    from chalicelib.domain.audit import AuditEventDraft
    from chalicelib.domain.catalog import JurisdictionCatalog
    from chalicelib.domain.identity import Principal
    from chalicelib.domain.paging import PageRequest
    from chalicelib.domain.tenant_bodies import TenantCreate
    from chalicelib.services.access import AccessControl
    from chalicelib.services.context import Caller
    from chalicelib.services.idempotency import Idempotency


class AuditSink(Protocol):
    def commit(self, tenant_id: str, jurisdiction: str, draft: AuditEventDraft) -> object: ...


class WritableDirectory(Protocol):
    def add(self, tenant: Tenant) -> None: ...

    def get(self, tenant_id: str) -> Tenant | None: ...

    def page_in_region(self, home_region: str, after: str | None, limit: int) -> tuple[list[Tenant], str | None]: ...


class TenantService:
    def __init__(self, directory: WritableDirectory, jurisdictions: JurisdictionCatalog,
                 access: AccessControl, clock: Callable[[], datetime], region: str,
                 audit: AuditSink, create_key: Callable[[Tenant, bool], None] | None = None,
                 on_onboarded: Callable[[Tenant], str] | None = None, idempotency: Idempotency | None = None) -> None:
        self._idempotency = idempotency
        self._create_key = create_key or (lambda tenant, fresh: None)
        self._on_onboarded = on_onboarded or (lambda tenant: "disabled")
        self._audit = audit
        self._region = region
        self._directory = directory
        self._jurisdictions = jurisdictions
        self._access = access
        self._clock = clock

    def onboard(self, principal: Principal, request: TenantCreate,
                idempotency_key: str | None = None) -> dict[str, object]:
        """The new tenant's entry and ``edge_route``: its route in the global entry (synced/pending/disabled).

        A retry with the same ``Idempotency-Key`` answers the first tenant (its route synced again)."""
        policy = self._jurisdictions.get(request.jurisdiction)
        home_region = policy.home_region
        self._access.onboarding(principal, home_region)
        if request.state is not None and request.state not in policy.states:
            expected = f"one of {', '.join(policy.states)}" if policy.states else "none (no states here)"
            raise ValidationFailed([{"field": "state",
                                     "message": f"unknown state of {policy.code}; expected {expected}"}])
        from chalicelib.services.idempotency import Idempotency

        minted = tenant_id = new_id("tnt")
        scope = Idempotency.unscoped(principal.sub, "tenants", request, idempotency_key)
        if scope is not None and self._idempotency is not None:
            tenant_id = self._idempotency.claim_first(scope, tenant_id)
            existing = self._directory.get(tenant_id)
            if existing is not None:
                return {**existing.to_json(), "edge_route": self._on_onboarded(existing)}
        tenant = Tenant(
            tenant_id=tenant_id,
            name=request.name,
            kind=request.kind,
            jurisdiction=request.jurisdiction,
            home_region=home_region,
            created_at=self._clock(),
            state=request.state,
            sector=request.sector,
        )
        # before the directory entry: no tenant is ever reachable without a key. A tenant id minted just now
        # has no key yet (the key store need not be read first); a retry's earlier id may have one
        self._create_key(tenant, tenant_id == minted)
        try:
            self._directory.add(tenant)
        except Conflict:
            existing = self._directory.get(tenant_id)  # a concurrent retry of the same key finished it first
            if scope is None or existing is None:
                raise
            tenant = existing
        return {**tenant.to_json(), "edge_route": self._on_onboarded(tenant)}

    def read(self, principal: Principal, tenant_id: str) -> Tenant:
        return self._access.tenant(principal, tenant_id, "tenant.read", resident=False)

    def list_in_region(self, caller: Caller, request: PageRequest) -> dict[str, object]:
        """One page of the tenants homed in this region (admins and compliance officers of the region)."""
        self._access.region(caller.principal, "tenant.list")
        tenants, last = self._directory.page_in_region(self._region, request.after, request.limit)
        for tenant in tenants:  # who looked at the list is in every listed tenant's trail
            self._audit.commit(tenant.tenant_id, tenant.jurisdiction,
                               caller.draft("tenant.list", f"tenants/{tenant.tenant_id}", count=len(tenants)))
        return page([tenant.to_json() for tenant in tenants], last)
