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
