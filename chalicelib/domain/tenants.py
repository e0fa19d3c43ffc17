"""Tenants (schools, review centres) and the non-personal metadata the directory holds."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints

from chalicelib.domain.text import clean_text


class TenantKind(StrEnum):
    SCHOOL = "school"
    REVIEW_CENTER = "review_center"


JurisdictionCode = Annotated[str, StringConstraints(pattern=r"^(PH|AU|UK|US)$")]
TenantName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
                       AfterValidator(clean_text)]


class TenantCreate(BaseModel):
    """Body of ``POST /v1/tenants``."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    name: TenantName
    kind: TenantKind
    jurisdiction: JurisdictionCode


class Tenant(BaseModel):
    """A directory entry: replicated to every region, so it holds no personal data."""

    model_config = ConfigDict(frozen=True)

    tenant_id: str
    name: str
    kind: TenantKind
    jurisdiction: str
    home_region: str
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
