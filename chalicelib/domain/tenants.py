"""Tenants (schools, review centres) and the non-personal metadata the directory holds."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, StringConstraints

from chalicelib.domain.text import clean_text


class TenantKind(StrEnum):
    SCHOOL = "school"
    REVIEW_CENTER = "review_center"


JurisdictionCode = Annotated[str, StringConstraints(pattern=r"^(PH|AU|UK|US)$")]
def _upper(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


StateCode = Annotated[str, BeforeValidator(_upper), StringConstraints(pattern=r"^[A-Z]{2,3}$")]
"""A state or territory's postal code (``NY``, ``NSW``); which ones exist is the law pack's ``states``."""
TenantSector = Literal["government", "non_government"]
"""Whether the tenant is a government (public-sector) school or body: state public-sector acts bind only those."""
TenantName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
                       AfterValidator(clean_text)]


class TenantCreate(BaseModel):
    """Body of ``POST /v1/tenants``."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    name: TenantName
    kind: TenantKind
    jurisdiction: JurisdictionCode
    state: StateCode | None = None
    """Optional; the state's overlay then applies to the tenant's deadlines (stricter wins)."""
    sector: TenantSector | None = None


class Tenant(BaseModel):
    """A directory entry: replicated to every region, so it holds no personal data."""

    model_config = ConfigDict(frozen=True)

    tenant_id: str
    name: str
    kind: TenantKind
    jurisdiction: str
    home_region: str
    created_at: datetime
    state: str | None = None
    sector: TenantSector | None = None

    def to_json(self) -> dict[str, Any]:
        """The API view; ``state`` and ``sector`` only when declared (older entries have neither)."""
        return self.model_dump(mode="json", exclude_none=True)
