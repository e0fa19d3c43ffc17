"""Access to a tenant: resolve it in the directory, authorize the action, enforce residency.

The order matters: an unknown or unrelated tenant is 404 (never revealing that it exists), a
related caller without the right is 403, and only an authorized request for another region's
tenant learns where the tenant lives (421) — before any personal data is touched.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from chalicelib.domain.authz import RegionResource, Resource, TenantResource
from chalicelib.domain.errors import Forbidden, NotFound, ResidencyMisdirected
from chalicelib.domain.identity import Principal, Role
from chalicelib.domain.ids import require_id
from chalicelib.domain.tenants import Tenant


class Directory(Protocol):
    def get(self, tenant_id: str) -> Tenant | None: ...


class Authorizer(Protocol):
    def is_allowed(self, principal: Principal, action: str, resource: Resource) -> bool: ...


class AccessControl:
    def __init__(self, directory: Directory, authorizer: Authorizer, region: str,
                 endpoint_of: Callable[[str], str],
                 on_denied: Callable[[Principal, Tenant, str, str], None] | None = None) -> None:
        """``on_denied(principal, tenant, action, reason)`` records a refused attempt on a tenant homed here."""
        self._on_denied = on_denied
        self._directory = directory
        self._authorizer = authorizer
        self._region = region
        self._endpoint_of = endpoint_of

    def tenant(self, principal: Principal, tenant_id: str, action: str, *, resident: bool = True) -> Tenant:
        """The tenant, once ``principal`` may do ``action`` on it here; else 404/403/421."""
        require_id(tenant_id, "tnt", "tenant")
        tenant = self._directory.get(tenant_id)
        if tenant is None:
            raise NotFound("no such tenant")
        if not self._authorizer.is_allowed(principal, action, TenantResource(tenant_id, tenant.home_region)):
            related = is_related(principal, tenant)
            if self._on_denied is not None and tenant.home_region == self._region:
                self._on_denied(principal, tenant, action, "forbidden" if related else "not_found")
            if not related:
                raise NotFound("no such tenant")
            raise Forbidden(f"your role may not perform {action} on this tenant")
        if resident:
            self.require_home(tenant.home_region)
        return tenant

    def onboarding(self, principal: Principal, home_region: str) -> None:
        """May ``principal`` onboard a tenant homed in ``home_region``, and is this the place?"""
        if not self._authorizer.is_allowed(principal, "tenant.create", TenantResource("new", home_region)):
            raise Forbidden("your role may not onboard tenants in this jurisdiction")
        self.require_home(home_region)

    def permits(self, principal: Principal, action: str, tenant: Tenant) -> bool:
        """Whether ``principal`` may also do ``action`` on a tenant already resolved by ``tenant()``."""
        return self._authorizer.is_allowed(principal, action, TenantResource(tenant.tenant_id, tenant.home_region))

    def may(self, principal: Principal, tenant_id: str, action: str) -> bool:
        """Whether ``principal`` may do ``action`` on the tenant (a filter for lists: nothing is recorded)."""
        tenant = self._directory.get(tenant_id)
        return tenant is not None and self.permits(principal, action, tenant)

    def region(self, principal: Principal, action: str) -> None:
        if not self._authorizer.is_allowed(principal, action, RegionResource(self._region)):
            raise Forbidden(f"your role may not perform {action} in this region")

    def require_home(self, home_region: str) -> None:
        if home_region != self._region:
            raise ResidencyMisdirected(home_region, self._endpoint_of(home_region))


def is_related(principal: Principal, tenant: Tenant) -> bool:
    """Whether the caller has any standing with the tenant (so a refusal may say 403, not 404)."""
    if principal.role is Role.PLATFORM_ADMIN:
        return True
    if principal.role.is_tenant_role:
        return principal.tenant_id == tenant.tenant_id
    return principal.region == tenant.home_region
