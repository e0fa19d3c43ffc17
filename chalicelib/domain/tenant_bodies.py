"""The body of ``POST /v1/tenants`` (a pydantic model, imported when that route first parses a body)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, StringConstraints

from chalicelib.domain.tenants import TenantKind, TenantSector
from chalicelib.domain.text import clean_text

JurisdictionCode = Annotated[str, StringConstraints(pattern=r"^(PH|AU|UK|US)$")]
def _upper(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


StateCode = Annotated[str, BeforeValidator(_upper), StringConstraints(pattern=r"^[A-Z]{2,3}$")]
"""A state or territory's postal code (``NY``, ``NSW``); which ones exist is the law pack's ``states``."""
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
