"""State overlays and the changelog of the law packs' values.

* An **overlay** (``policies/jurisdictions/overlays/US-NY.json``) holds a state's own rules on top of
  its nation's pack: breach duties, request deadlines and, where working days count, the state's
  holiday calendar. ``sectors`` limits it to tenants that declared one of them (the NSW and Victorian
  public-sector acts bind government schools only); empty, it binds every tenant of the state.
* The **changelog** (``policies/jurisdictions/changelog/CHANGELOG.json``) says, per deadline value
  (``breach.individuals.notify``, ``requests.access``) of a pack or overlay, from which date the
  current value is in force and what was in force before (``null``: no such duty before). A deadline
  is computed with the value in force on the day of its event (``Changelog.in_force``), so a deadline
  computed last year can be explained with the rule of last year.

Reading the files is ``chalicelib.adapters.policy_files``'s job; this module validates and queries.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal, get_args

from pydantic import Field, Strict, StringConstraints, field_validator, model_validator

from chalicelib.domain.jurisdictions import (
    BreachRule,
    CitedRule,
    Confidence,
    Frozen,
    IsoDate,
    RequestRule,
    RequestType,
    Sector,
    Source,
    Text,
    WorkingDays,
    cited_rules,
)
from chalicelib.domain.obligations import Obligation, distinct_obligations

SECTORS: tuple[str, ...] = get_args(Sector)
OverlayCode = Annotated[str, Strict(), StringConstraints(pattern=r"^[A-Z]{2}-[A-Z]{2,3}$")]
PackCode = Annotated[str, Strict(), StringConstraints(pattern=r"^[A-Z]{2}(-[A-Z]{2,3})?$")]
ValueAddress = Annotated[str, Strict(), StringConstraints(
    pattern=r"^(breach\.(regulator|individuals|school)\.(notify|assess)|requests\.(access|rectification|erasure|restriction))$")]
"""A deadline value of a pack: ``breach.<party>.<action>`` or ``requests.<type>``."""
DeadlineRule = BreachRule | RequestRule


class Overlay(Frozen):
    """A state's rules on top of its nation's law pack (file name = code, e.g. ``US-NY``)."""

    code: OverlayCode
    name: Text
    laws: tuple[Text, ...] = Field(min_length=1)
    sectors: tuple[Sector, ...] = ()
    """Empty: binds every tenant of the state; else only tenants that declared one of these sectors."""
    breach: tuple[BreachRule, ...] = ()
    requests: dict[RequestType, RequestRule] = Field(default_factory=dict)
    working_days: WorkingDays | None = None
    """The state's holiday calendar for its working-day deadlines (absent: the nation's)."""
    obligations: tuple[Obligation, ...] = ()
    """The state's standing duties on top of the nation's (``domain.obligations``)."""

    @field_validator("obligations")
    @classmethod
    def _distinct_obligations(cls, value: tuple[Obligation, ...]) -> tuple[Obligation, ...]:
        return distinct_obligations(value)

    @model_validator(mode="after")
    def _some_rule_once_per_duty(self) -> Overlay:
        if not self.breach and not self.requests:
            raise ValueError("an overlay needs at least one breach or request rule")
        duties = [(rule.party, rule.action) for rule in self.breach]
        if len(set(duties)) != len(duties):
            raise ValueError("at most one breach rule per party and action")
        return self

    @property
    def nation(self) -> str:
        return self.code.split("-", 1)[0]

    @property
    def state(self) -> str:
        return self.code.split("-", 1)[1]

    def binds(self, sector: str | None) -> bool:
        """True when the overlay applies to a tenant of its state that declared ``sector``."""
        return not self.sectors or sector in self.sectors

    def value(self, address: str) -> DeadlineRule | None:
        """The rule at ``address`` (``breach.individuals.notify``, ``requests.access``), or None."""
        return _value_of(self.breach, self.requests, address)

    def cited_rules(self) -> list[CitedRule]:
        return list(cited_rules(self))

    def sources(self) -> list[str]:
        return sorted({source for rule in cited_rules(self) for source in rule.sources})

    def public_view(self) -> dict[str, Any]:
        return {**self.model_dump(mode="json"), "sources": self.sources()}


StateOverlay = Overlay
"""The name of the first overlay model (US states only)."""


def breach_address(rule: BreachRule) -> str:
    return f"breach.{rule.party}.{rule.action}"


def _value_of(breach: tuple[BreachRule, ...], requests: Any, address: str) -> DeadlineRule | None:
    kind, _, rest = address.partition(".")
    if kind == "requests":
        found: RequestRule | None = requests.get(rest) if isinstance(requests, dict) else getattr(requests, rest, None)
        return found
    return next((rule for rule in breach if breach_address(rule) == address), None)


def value_of(pack: Any, address: str) -> DeadlineRule | None:
    """The rule at ``address`` of a law pack or an overlay, or None when it has none."""
    return _value_of(pack.breach, pack.requests, address)


ChangeKind = Literal["law", "correction"]


class Change(Frozen):
    """One change of one value: what was in force before ``effective``.

    A ``law`` change is a change of the law: events before ``effective`` are judged by ``before``.
    A ``correction`` is a fix of the pack's own value (a wrong citation, a flag, a number no source
    backed): ``before`` is what the pack said until ``effective``, kept to explain deadlines
    computed with it, but the law did not change, so every event is judged by the corrected value.
    """

    pack: PackCode
    kind: ChangeKind = "law"
    value: ValueAddress
    effective: IsoDate
    """The first day the value after this change (the next change's ``before``, or the file's) is in force."""
    summary: Text
    sources: tuple[Source, ...] = Field(min_length=1)
    confidence: Confidence
    before: DeadlineRule | None
    """The value in force until the day before ``effective``; null: no such duty before."""

    @field_validator("effective")
    @classmethod
    def _real_date(cls, value: str) -> str:
        date.fromisoformat(value)
        return value

    @model_validator(mode="after")
    def _before_fits_the_value(self) -> Change:
        if self.before is None:
            return self
        if self.value.startswith("requests.") != isinstance(self.before, RequestRule):
            raise ValueError(f"before must be a rule of the kind {self.value} names")
        if isinstance(self.before, BreachRule) and breach_address(self.before) != self.value:
            raise ValueError(f"before is the rule of {breach_address(self.before)}, not {self.value}")
        return self

    @property
    def effective_date(self) -> date:
        return date.fromisoformat(self.effective)


class Changelog(Frozen):
    """Every recorded change of a deadline value (``CHANGELOG.json``)."""

    changes: tuple[Change, ...] = ()

    @field_validator("changes")
    @classmethod
    def _one_change_per_day(cls, value: tuple[Change, ...]) -> tuple[Change, ...]:
        keys = [(change.pack, change.value, change.effective) for change in value]
        if len(set(keys)) != len(keys):
            raise ValueError("two changes of one value take effect on the same day")
        return value

    def history(self, pack: str, address: str) -> list[Change]:
        """The changes of one value, latest first."""
        found = [change for change in self.changes if change.pack == pack and change.value == address]
        return sorted(found, key=lambda change: change.effective, reverse=True)

    def in_force(self, pack: str, address: str, current: DeadlineRule | None,
                 day: date) -> tuple[DeadlineRule | None, str | None]:
        """The value in force on ``day`` and the day it took effect (None: before any recorded change)."""
        rule = current
        for change in self.history(pack, address):
            if change.kind == "correction":
                continue
            if day >= change.effective_date:
                return rule, change.effective
            rule = change.before
        return rule, None

    def view(self, packs: set[str]) -> list[dict[str, Any]]:
        """The changes of these packs' values, oldest first, as JSON-able data."""
        chosen = [change for change in self.changes if change.pack in packs]
        chosen.sort(key=lambda change: (change.effective, change.pack, change.value))
        return [change.model_dump(mode="json") for change in chosen]
