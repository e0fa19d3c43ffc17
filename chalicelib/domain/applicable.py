"""Which deadline applies to a tenant: national rules + its state's overlay, the stricter (earlier) wins.

For each duty (a breach party and action, or a request type) the candidates are the nation's rule and
the binding overlay's rule (``Overlay.binds``: the tenant declared that state and, when the overlay
names sectors, one of them), each **as in force on the event's day** (``Changelog.in_force``) and
**for the tenant's sector** (``by_sector``: where the law differs for government bodies, e.g. the
California breach statute for public agencies or APP 12's 30 days binding agencies only). The
candidate due first wins; a fixed deadline beats one with none ("as soon as practicable": no time
limit to compute, though it still applies and is listed). On a tie of two fixed deadlines the national
rule is kept; on a tie of two open-ended ones the overlay's is kept, because it states the duty the
tenant actually has (the federal US rule only says there is none of its own). The answer names the rule
applied (``applied_rule``: the pack's code, ``US`` or ``US-NY``, with ``/government`` or
``/non_government`` when a sector's own rule applied), its text, sources, confidence and the day it
took effect, and lists the rules that lost under ``other_rules``. A breach duty counted from the notice
to the affected people (``counted_from``) is due that many hours after their notice's latest due time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from chalicelib.domain.catalog import JurisdictionCatalog
from chalicelib.domain.deadlines import as_utc, iso_utc, request_due_at
from chalicelib.domain.jurisdictions import BreachRule, JurisdictionPolicy, RequestRule
from chalicelib.domain.obligations import Obligation
from chalicelib.domain.overlays import DeadlineRule, Overlay, breach_address, value_of
from chalicelib.domain.tenants import Tenant


@dataclass(frozen=True, order=True)
class TenantScope:
    """What decides a tenant's rules: its jurisdiction, the state it declared and its sector."""

    jurisdiction: str
    state: str | None = None
    sector: str | None = None

    @classmethod
    def of(cls, tenant: Tenant) -> TenantScope:
        return cls(tenant.jurisdiction, tenant.state, tenant.sector)


_INDIVIDUALS_NOTIFY = "breach.individuals.notify"


@dataclass(frozen=True)
class _Candidate:
    pack: str
    rule: DeadlineRule
    in_force_from: str | None
    due: datetime | None


def binding_overlay(catalog: JurisdictionCatalog, scope: TenantScope) -> Overlay | None:
    """The overlay of the tenant's state when it binds the tenant's sector, else None."""
    if scope.state is None:
        return None
    overlay = catalog.overlay(f"{scope.jurisdiction}-{scope.state}")
    return overlay if overlay is not None and overlay.binds(scope.sector) else None


def breach_duties(catalog: JurisdictionCatalog, scope: TenantScope, discovered_at: datetime,
                  now: datetime) -> list[dict[str, Any]]:
    """Each breach duty of the tenant's scope (national order, then the overlay's own duties)."""
    policy = catalog.get(scope.jurisdiction)
    overlay = binding_overlay(catalog, scope)
    discovered = as_utc(discovered_at)
    addresses = list(dict.fromkeys([*(breach_address(r) for r in policy.breach),
                                    *(breach_address(r) for r in (overlay.breach if overlay else ()))]))

    def due(_: str, rule: DeadlineRule) -> datetime | None:
        assert isinstance(rule, BreachRule)
        start: datetime | None = discovered
        if rule.counted_from == "individuals_notified":
            notice = _candidates(catalog, policy, overlay, scope.sector, _INDIVIDUALS_NOTIFY, discovered, due)
            start = notice[0].due if notice else None
        return None if rule.within_hours is None or start is None else start + timedelta(hours=rule.within_hours)

    out = []
    for address in addresses:
        candidates = _candidates(catalog, policy, overlay, scope.sector, address, discovered, due)
        if not candidates:
            continue
        winner = candidates[0]
        assert isinstance(winner.rule, BreachRule)
        hours = winner.rule.within_hours
        out.append({
            "jurisdiction": scope.jurisdiction, "state": scope.state,
            "party": winner.rule.party, "action": winner.rule.action, "by": winner.rule.by,
            "due_at": None if winner.due is None else iso_utc(winner.due), "within_hours": hours,
            "counted_from": winner.rule.counted_from,
            **_provenance(winner), "overdue": winner.due is not None and winner.due < as_utc(now),
            "other_rules": [_other(loser) for loser in candidates[1:]],
        })
    return out


def request_deadline(catalog: JurisdictionCatalog, scope: TenantScope, request_type: str,
                     received_at: datetime) -> tuple[RequestRule, datetime, dict[str, Any]]:
    """The rule that applies to a request, its due time and the deadline as the API shows it."""
    policy = catalog.get(scope.jurisdiction)
    policy.request_deadline(request_type)  # ValidationFailed for an unknown type
    overlay = binding_overlay(catalog, scope)
    received = as_utc(received_at)

    def due(pack: str, rule: DeadlineRule) -> datetime | None:
        assert isinstance(rule, RequestRule)
        own = overlay is not None and pack == overlay.code and overlay.working_days is not None
        calendar = overlay.working_days if own and overlay is not None else policy.working_days
        return request_due_at(received, rule, calendar.is_holiday if calendar else lambda _: False,
                              next_working_day=rule.next_working_day)

    candidates = _candidates(catalog, policy, overlay, scope.sector, f"requests.{request_type}", received, due)
    winner = candidates[0]
    rule, when = winner.rule, winner.due
    assert isinstance(rule, RequestRule)
    assert when is not None
    deadline = {"amount": rule.amount, "unit": rule.unit, "rule": rule.rule, "sources": list(rule.sources),
                "confidence": rule.confidence, "statutory": rule.statutory, "applied_rule": winner.pack,
                "in_force_from": winner.in_force_from,
                "other_rules": [_other(loser) for loser in candidates[1:]]}
    return rule, when, deadline


def _candidates(catalog: JurisdictionCatalog, policy: JurisdictionPolicy, overlay: Overlay | None,
                sector: str | None, address: str, event: datetime,
                due: Callable[[str, DeadlineRule], datetime | None]) -> list[_Candidate]:
    """The rules in force on the event's day for the sector, the one that applies first (see the module)."""
    packs: list[tuple[str, DeadlineRule | None]] = [(policy.code, value_of(policy, address))]
    if overlay is not None:
        packs.append((overlay.code, overlay.value(address)))
    found = []
    for pack, current in packs:
        rule, since = (current, None) if catalog.changelog is None else \
            catalog.changelog.in_force(pack, address, current, event.date())
        if rule is not None:
            own = rule.for_sector(sector)
            label = pack if own is rule else f"{pack}/{sector}"
            found.append(_Candidate(label, own, since, due(pack, own)))

    def order(candidate: _Candidate) -> tuple[bool, datetime, int]:
        rank = found.index(candidate)  # 0: the nation's rule, 1: the overlay's
        open_ended = candidate.due is None
        return open_ended, candidate.due or event, -rank if open_ended else rank

    return sorted(found, key=order)


def _provenance(candidate: _Candidate) -> dict[str, Any]:
    return {"rule": candidate.rule.rule, "source": "; ".join(candidate.rule.sources),
            "confidence": candidate.rule.confidence, "applied_rule": candidate.pack,
            "in_force_from": candidate.in_force_from}


def _other(candidate: _Candidate) -> dict[str, Any]:
    due = None if candidate.due is None else iso_utc(candidate.due)
    return {"due_at": due, **_provenance(candidate)}


def obligations_of(catalog: JurisdictionCatalog, scope: TenantScope) -> list[tuple[str, Obligation]]:
    """The standing obligations binding a tenant: its nation's, then its binding overlay's, each filtered by
    the tenant's sector; with the code of the pack that states it."""
    found = [(scope.jurisdiction, obligation) for obligation in catalog.get(scope.jurisdiction).obligations]
    overlay = binding_overlay(catalog, scope)
    if overlay is not None:
        found += [(overlay.code, obligation) for obligation in overlay.obligations]
    return [(pack, obligation) for pack, obligation in found if obligation.binds(scope.sector)]
