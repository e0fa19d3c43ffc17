"""Onboarding tenants and reading their directory entries."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from chalicelib.domain.identity import Principal
from chalicelib.domain.ids import new_id
from chalicelib.domain.jurisdictions import JurisdictionCatalog
from chalicelib.domain.paging import PageRequest, page
from chalicelib.domain.tenants import Tenant, TenantCreate
from chalicelib.services.access import AccessControl


class WritableDirectory(Protocol):
    def add(self, tenant: Tenant) -> None: ...

    def get(self, tenant_id: str) -> Tenant | None: ...

    def page_in_region(self, home_region: str, after: str | None, limit: int) -> tuple[list[Tenant], str | None]: ...


class TenantService:
    def __init__(self, directory: WritableDirectory, jurisdictions: JurisdictionCatalog,
                 access: AccessControl, clock: Callable[[], datetime], region: str,
                 create_key: Callable[[Tenant], None] | None = None) -> None:
        self._create_key = create_key or (lambda tenant: None)
        self._region = region
        self._directory = directory
        self._jurisdictions = jurisdictions
        self._access = access
        self._clock = clock

    def onboard(self, principal: Principal, request: TenantCreate) -> Tenant:
        home_region = self._jurisdictions.get(request.jurisdiction).home_region
        self._access.onboarding(principal, home_region)
        tenant = Tenant(
            tenant_id=new_id("tnt"),
            name=request.name,
            kind=request.kind,
            jurisdiction=request.jurisdiction,
            home_region=home_region,
            created_at=self._clock(),
        )
        self._create_key(tenant)  # before the directory entry: no tenant is ever reachable without a key
        self._directory.add(tenant)
        return tenant

    def read(self, principal: Principal, tenant_id: str) -> Tenant:
        return self._access.tenant(principal, tenant_id, "tenant.read", resident=False)

    def list_in_region(self, principal: Principal, request: PageRequest) -> dict[str, object]:
        """One page of the tenants homed in this region (admins and compliance officers of the region)."""
        self._access.region(principal, "tenant.list")
        tenants, last = self._directory.page_in_region(self._region, request.after, request.limit)
        return page([tenant.to_json() for tenant in tenants], last)
