"""What authorization decisions are about: the resources a principal acts on."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TenantResource:
    """A tenant as the policies see it (``tenant_id`` "new" for one being onboarded)."""

    tenant_id: str
    home_region: str


@dataclass(frozen=True)
class RegionResource:
    """One region's view of the platform (region-wide lists)."""

    region: str


Resource = TenantResource | RegionResource
