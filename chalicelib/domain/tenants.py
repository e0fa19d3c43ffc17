"""Tenants (schools, review centres) and the non-personal metadata the directory holds.

``Tenant`` is a plain frozen dataclass, not a pydantic model: reading a tenant (a common first request
of a cold start) then needs no pydantic. The onboarding body, ``TenantCreate``, is a pydantic model in
``chalicelib.domain.tenant_bodies``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal, get_args


class TenantKind(StrEnum):
    SCHOOL = "school"
    REVIEW_CENTER = "review_center"


TenantSector = Literal["government", "non_government"]
"""Whether the tenant is a government (public-sector) school or body: state public-sector acts bind only those."""
SECTORS = frozenset(get_args(TenantSector))
_FIELDS = ("tenant_id", "name", "kind", "jurisdiction", "home_region", "created_at", "state", "sector")


@dataclass(frozen=True)
class Tenant:
    """A directory entry: replicated to every region, so it holds no personal data."""

    tenant_id: str
    name: str
    kind: TenantKind
    jurisdiction: str
    home_region: str
    created_at: datetime
    state: str | None = None
    sector: TenantSector | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", TenantKind(self.kind))   # a stored "school" is the enum member
        if isinstance(self.created_at, str):
            object.__setattr__(self, "created_at", datetime.fromisoformat(self.created_at))
        if not isinstance(self.created_at, datetime):
            raise ValueError("created_at must be a datetime")
        if self.sector is not None and self.sector not in SECTORS:
            raise ValueError(f"sector must be one of {', '.join(sorted(SECTORS))}")

    @classmethod
    def from_item(cls, values: Mapping[str, Any]) -> Tenant:
        """The entry from a directory item's string attributes (others ignored)."""
        return cls(**{name: values[name] for name in _FIELDS if name in values})

    def to_json(self) -> dict[str, Any]:
        """The API view; ``state`` and ``sector`` only when declared (older entries have neither)."""
        view: dict[str, Any] = {"tenant_id": self.tenant_id, "name": self.name, "kind": self.kind.value,
                                "jurisdiction": self.jurisdiction, "home_region": self.home_region,
                                "created_at": _iso(self.created_at)}
        if self.state is not None:
            view["state"] = self.state
        if self.sector is not None:
            view["sector"] = self.sector
        return view


def _iso(moment: datetime) -> str:
    """ISO 8601 as the API has always written it: ``Z`` for UTC."""
    text = moment.isoformat()
    offset = moment.utcoffset()
    return text[:-6] + "Z" if offset is not None and not offset and text.endswith("+00:00") else text
