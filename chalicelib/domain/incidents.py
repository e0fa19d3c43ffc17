"""Incidents (suspected personal-data breaches): the request body and the pure calculations.

Deadlines come from each affected tenant scope's law pack and state overlay (``breach`` rules in
force on the day of discovery, the stricter winning: ``applicable.breach_duties``): hours after
discovery, or ``null`` where the law says "as soon as practicable" / "without undue delay".
Affected learners are the learner ids the affected tenants' audit trails mention from
``discovered_at - lookback_days`` until the incident is recorded: the learners whose data was
touched while the breach may have been going on. ``lookback_days`` is a product default
(30), not a legal rule; the caller can widen it up to a year.

The summary is free text that may name people. It is validated and then **not stored anywhere** (an
incident spans tenants, so no single tenant's key fits it, and an unkeyed hash of personal data is
not allowed): keep the narrative in the incident-management system, under the returned
``incident_id``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from chalicelib.domain.applicable import TenantScope, breach_duties
from chalicelib.domain.catalog import JurisdictionCatalog
from chalicelib.domain.ids import is_valid_id

DEFAULT_LOOKBACK_DAYS = 30
MAX_TENANTS = 100
_LEARNER_IN_RESOURCE = re.compile(r"(?:^|/)learners/(lrn_[a-z2-7]{26})(?:/|$)")


def _tenant_ids(value: list[str]) -> list[str]:
    for index, tenant_id in enumerate(value):
        if not is_valid_id(tenant_id, "tnt"):
            raise ValueError(f"item {index} is not a tenant id (tnt_...)")
    return list(dict.fromkeys(value))


class IncidentCreate(BaseModel):
    """Body of ``POST /v1/incidents``."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    discovered_at: AwareDatetime
    discovery_basis: Literal["knowledge", "reasonable_belief"] = "knowledge"
    """What ``discovered_at`` marks: knowledge of a breach, or a reasonable belief that one occurred (the
    Philippine NPC's clock starts on either; elsewhere the clock starts when the controller became aware)."""
    tenant_ids: Annotated[list[str], Field(min_length=1, max_length=MAX_TENANTS), AfterValidator(_tenant_ids)]
    summary: Annotated[str, Field(min_length=1, max_length=5000)]
    lookback_days: int = Field(default=DEFAULT_LOOKBACK_DAYS, ge=1, le=366)


def deadlines_for(discovered_at: datetime, catalog: JurisdictionCatalog, scopes: Iterable[TenantScope],
                  now: datetime) -> list[dict[str, Any]]:
    """Every duty of every affected scope (jurisdiction, state, sector; sorted), each naming the rule that
    applied, with ``confidence`` and ``overdue`` (a due time already past when the incident is recorded)."""
    out: list[dict[str, Any]] = []
    for scope in sorted(set(scopes), key=lambda s: (s.jurisdiction, s.state or "", s.sector or "")):
        duties = breach_duties(catalog, scope, discovered_at, now)
        if scope.sector is not None:
            for duty in duties:
                duty["sector"] = scope.sector
        out += duties
    return out


def learners_mentioned(events: Iterable[dict[str, Any]]) -> set[str]:
    """Learner ids an audit event names: ``details.learner_id``, ``details.learner_ids`` or the resource."""
    found: set[str] = set()
    for event in events:
        details = event.get("details") or {}
        single = details.get("learner_id")
        if isinstance(single, str) and is_valid_id(single, "lrn"):
            found.add(single)
        many = details.get("learner_ids")
        if isinstance(many, list):
            found.update(item for item in many if isinstance(item, str) and is_valid_id(item, "lrn"))
        match = _LEARNER_IN_RESOURCE.search(str(event.get("resource", "")))
        if match:
            found.add(match.group(1))
    return found
