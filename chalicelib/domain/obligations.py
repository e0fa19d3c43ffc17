"""Standing obligations: the duties a school is audited on beyond deadlines, and whether each is met.

A law pack or state overlay lists its ``obligations``: the law (``rule``, ``sources``, ``confidence``),
who must act (``who``), what evidence closes it (``evidence``), how long that evidence holds
(``every_months``: e.g. an annual notice lapses 12 months after it was given; absent: once, kept
current), and when it applies: ``sectors`` (empty: every tenant), ``trigger`` (``standing``, or an event
that makes it due: a breach, a request), ``in_force_from`` and ``pending`` (a code not yet registered).

A tenant's status per obligation: ``pending`` (not in force yet), ``due`` (a standing duty with no
evidence), ``on_event`` (a duty that a breach or request triggers, none recorded), ``met`` or
``lapsed`` (the evidence is older than its period).
"""

from __future__ import annotations

import calendar
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import Field, Strict, StringConstraints

from chalicelib.domain.law_rules import CitedRule, IsoDate, Sector, Text

Trigger = Literal["standing", "breach", "request"]
Who = Literal["tenant", "contractor"]
Status = Literal["pending", "due", "on_event", "met", "lapsed"]
ObligationKey = Annotated[str, Strict(), StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{2,62}$")]


class Obligation(CitedRule):
    """One duty a tenant must be able to show it has done."""

    key: ObligationKey
    title: Annotated[str, Strict(), StringConstraints(strip_whitespace=True, min_length=3, max_length=120)]
    who: Who = "tenant"
    evidence: Text
    """What closes it: e.g. "the notice as sent and the date it went out"."""
    every_months: Annotated[int, Strict(), Field(ge=1, le=120)] | None = None
    sectors: tuple[Sector, ...] = ()
    trigger: Trigger = "standing"
    in_force_from: IsoDate | None = None
    pending: Annotated[bool, Strict()] = False
    """True while the law is not yet made (e.g. a code awaiting registration): listed, never due."""

    def binds(self, sector: str | None) -> bool:
        return not self.sectors or sector in self.sectors


def distinct_obligations(value: tuple[Obligation, ...]) -> tuple[Obligation, ...]:
    """``value``, if no two obligations share a key (a pack's validator)."""
    keys = [obligation.key for obligation in value]
    if len(set(keys)) != len(keys):
        raise ValueError("two obligations share a key")
    return value


def add_months(day: date, months: int) -> date:
    """Same day number ``months`` later, clamped to that month's last day."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return day.replace(year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1]))


def standing(obligation: Obligation, evidenced_on: date | None, today: date) -> dict[str, Any]:
    """The obligation's status on ``today`` given its latest evidence, with the day it lapses (if it does)."""
    status: Status
    lapses: date | None = None
    if obligation.pending or (obligation.in_force_from is not None and today.isoformat() < obligation.in_force_from):
        status = "pending"
    elif evidenced_on is None:
        status = "due" if obligation.trigger == "standing" else "on_event"
    elif obligation.every_months is None:
        status = "met"
    else:
        lapses = add_months(evidenced_on, obligation.every_months)
        status = "met" if today < lapses else "lapsed"
    return {"status": status, "evidenced_on": evidenced_on.isoformat() if evidenced_on else None,
            "lapses_on": lapses.isoformat() if lapses else None}
