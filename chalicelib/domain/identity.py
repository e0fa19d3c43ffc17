"""Who is calling: the principal derived from a verified token, and the five roles."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    PLATFORM_ADMIN = "platform_admin"
    REGIONAL_ADMIN = "regional_admin"
    COMPLIANCE_OFFICER = "compliance_officer"
    TENANT_ADMIN = "tenant_admin"
    TENANT_STAFF = "tenant_staff"

    @property
    def is_tenant_role(self) -> bool:
        return self in (Role.TENANT_ADMIN, Role.TENANT_STAFF)


@dataclass(frozen=True)
class Principal:
    """A verified caller. ``region`` is the region of the pool that issued the token."""

    sub: str
    username: str
    role: Role
    region: str
    tenant_id: str | None = None


WRONG_IDENTITY_POOL = "wrong_identity_pool"


def scope_refusal(principal: Principal, region: str) -> str | None:
    """Why ``principal`` may not act on something homed in ``region`` whatever its role allows, or None.

    A tenant's users live in the pool of the tenant's home region, and a regional admin's or compliance
    officer's scope is the region of the pool that issued the token: a token of another region's pool
    is refused, even one carrying the right ``custom:tenant_id`` (an administrator of that pool could
    have written any). Platform administrators act on every region from any pool.
    """
    if principal.role is Role.PLATFORM_ADMIN or principal.region == region:
        return None
    return WRONG_IDENTITY_POOL
