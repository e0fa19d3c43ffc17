"""Access to a tenant: resolve it in the directory, authorize the action, enforce residency.

The order matters: an unknown or unrelated tenant is 404 (never revealing that it exists), a
related caller without the right is 403, and only an authorized request for another region's
tenant learns where the tenant lives (421) — before any personal data is touched.

Two layers decide, and either alone refuses: the Cedar policies, and the principal's scope
(``scope_refusal``): a tenant user's token must come from the pool of the tenant's home region, a
regional role acts only in its own region. A tenant user of another pool is 403
``wrong_identity_pool`` (never 421: it is not authorized); the refusal is audited like any other.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NoReturn, Protocol

from chalicelib.domain.authz import RegionResource, Resource, TenantResource
from chalicelib.domain.errors import Forbidden, NotFound, ResidencyMisdirected, WrongIdentityPool
from chalicelib.domain.identity import Principal, Role, scope_refusal
from chalicelib.domain.ids import require_id
from chalicelib.domain.tenants import Tenant

# Region-wide actions any signed-in user may take at any regional endpoint (the law packs are public policy).
OPEN_TO_EVERY_POOL = frozenset({"jurisdiction.read"})


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
        refusal = scope_refusal(principal, tenant.home_region)
        if refusal is not None or not self._authorizer.is_allowed(
                principal, action, TenantResource(tenant_id, tenant.home_region)):
            self._refuse(principal, tenant, action, refusal)
        if resident:
            self.require_home(tenant.home_region)
        return tenant

    def _refuse(self, principal: Principal, tenant: Tenant, action: str, refusal: str | None) -> NoReturn:
        """404 to a caller without standing, else 403 (``wrong_identity_pool`` for a token of another
        region's pool); recorded in the tenant's trail when its trail lives here."""
        related = is_related(principal, tenant)
        reason = (refusal or "forbidden") if related else "not_found"
        if self._on_denied is not None and tenant.home_region == self._region:
            self._on_denied(principal, tenant, action, reason)
        if not related:
            raise NotFound("no such tenant")
        if refusal is not None:
            raise WrongIdentityPool("a tenant user's token is honoured only from the user pool of the tenant's "
                                    "home region")
        raise Forbidden(f"your role may not perform {action} on this tenant")

    def onboarding(self, principal: Principal, home_region: str) -> None:
        """May ``principal`` onboard a tenant homed in ``home_region``, and is this the place?"""
        if scope_refusal(principal, home_region) is not None:
            raise WrongIdentityPool("your token's user pool is not the one of this jurisdiction's home region")
        if not self._authorizer.is_allowed(principal, "tenant.create", TenantResource("new", home_region)):
            raise Forbidden("your role may not onboard tenants in this jurisdiction")
        self.require_home(home_region)

    def permits(self, principal: Principal, action: str, tenant: Tenant) -> bool:
        """Whether ``principal`` may also do ``action`` on a tenant already resolved by ``tenant()``."""
        return scope_refusal(principal, tenant.home_region) is None and self._authorizer.is_allowed(
            principal, action, TenantResource(tenant.tenant_id, tenant.home_region))

    def may(self, principal: Principal, tenant_id: str, action: str) -> bool:
        """Whether ``principal`` may do ``action`` on the tenant (a filter for lists: nothing is recorded)."""
        tenant = self._directory.get(tenant_id)
        return tenant is not None and self.permits(principal, action, tenant)

    def readable(self, principal: Principal, tenant_id: str, action: str) -> Tenant | None:
        """The tenant if ``principal`` may do ``action`` on it, else None (a filter: nothing is recorded)."""
        tenant = self._directory.get(tenant_id)
        return tenant if tenant is not None and self.permits(principal, action, tenant) else None

    def region(self, principal: Principal, action: str) -> None:
        """May ``principal`` do the region-wide ``action`` here (a regional role: only in its own region)?"""
        if action not in OPEN_TO_EVERY_POOL and scope_refusal(principal, self._region) is not None:
            raise WrongIdentityPool("your token's user pool is not this region's")
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
