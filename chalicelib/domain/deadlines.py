"""Pure legal calculators: ages, data-subject request due dates, breach and retention deadlines.

Conventions (all datetimes timezone-aware; results in UTC, and days are UTC days):

* Age: a person turns a year older on the anniversary of their birth. Someone born on 29 February
  turns a year older on 1 March in non-leap years (they have not reached the anniversary on
  28 February). This is the later, more protective reading: a guardian's consent is required
  for one more day rather than one day too few.
* Requests: the day of receipt is day 0. "N days" are calendar days: due = received + N days, same
  time of day. "N working days" count Monday to Friday after the day of receipt, skipping the
  jurisdiction's public holidays when its law pack declares a holiday calendar (``working_days``:
  the ``holidays`` package's national holidays plus proclaimed special days); the due time is the
  receipt's time of day on the Nth such day. Where the law says so (``next_working_day``), a
  calendar-day due date on a weekend or public holiday moves to the next working day. "N months"
  land on the same day number N months later, or on that month's last day when it has no such day
  (31 January + 1 month = 28 or 29 February), same time of day.
* Breach: ``within_hours`` after discovery; ``None`` where the law says "as soon as practicable".
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from chalicelib.domain.jurisdictions import Deadline, JurisdictionPolicy


def age_on(date_of_birth: date, day: date) -> int:
    """Completed years on ``day`` (29 February birthdays advance on 1 March in non-leap years)."""
    if day < date_of_birth:
        raise ValueError("day is before the date of birth")
    before_anniversary = (day.month, day.day) < (date_of_birth.month, date_of_birth.day)
    return day.year - date_of_birth.year - int(before_anniversary)


def is_below_consent_age(date_of_birth: date, day: date, policy: JurisdictionPolicy) -> bool:
    """True when the person cannot consent alone on ``day`` under ``policy`` (a guardian must)."""
    return age_on(date_of_birth, day) < policy.consent_age


HolidayTest = Callable[[date], bool]


def _no_holidays(_: date) -> bool:
    return False


def request_due_at(received_at: datetime, deadline: Deadline,
                   is_holiday: HolidayTest = _no_holidays, *, next_working_day: bool = False) -> datetime:
    """When a request received at ``received_at`` is due (UTC; see the module's conventions).

    ``is_holiday`` says which weekdays are not working days (``JurisdictionPolicy.is_public_holiday``);
    ``next_working_day``: a calendar-day due date on a weekend or holiday moves to the next working day.
    """
    received = as_utc(received_at)
    if deadline.unit == "days":
        due = received + timedelta(days=deadline.amount)
        while next_working_day and (due.weekday() >= 5 or is_holiday(due.date())):
            due += timedelta(days=1)
        return due
    if deadline.unit == "working_days":
        return add_working_days(received, deadline.amount, is_holiday)
    return add_months(received, deadline.amount)


def add_working_days(start: datetime, count: int, is_holiday: HolidayTest = _no_holidays) -> datetime:
    """The ``count``-th Monday-to-Friday non-holiday day after ``start``'s day, at ``start``'s time of day."""
    moment = start
    remaining = count
    while remaining > 0:
        moment += timedelta(days=1)
        if moment.weekday() < 5 and not is_holiday(moment.date()):
            remaining -= 1
    return moment


def add_months(start: datetime, count: int) -> datetime:
    """Same day number ``count`` months later, clamped to that month's last day."""
    months = start.month - 1 + count
    year, month = start.year + months // 12, months % 12 + 1
    last_day = calendar.monthrange(year, month)[1]
    return start.replace(year=year, month=month, day=min(start.day, last_day))


def breach_deadlines(discovered_at: datetime, policy: JurisdictionPolicy) -> list[dict[str, Any]]:
    """Each duty of ``policy`` after a breach discovered at ``discovered_at``, in the file's order."""
    discovered = as_utc(discovered_at)
    deadlines: list[dict[str, Any]] = []
    for rule in policy.breach:
        due = None if rule.within_hours is None else discovered + timedelta(hours=rule.within_hours)
        deadlines.append({
            "jurisdiction": policy.code,
            "party": rule.party,
            "action": rule.action,
            "due_at": None if due is None else iso_utc(due),
            "rule": rule.rule,
            "source": "; ".join(rule.sources),
        })
    return deadlines


def retention_expires_at(record_type: str, reference: datetime, policy: JurisdictionPolicy) -> datetime:
    """When a record expires: ``reference`` (the rule's ``after`` event, e.g. the learner leaving) + days."""
    return as_utc(reference) + timedelta(days=policy.retention_rule(record_type).days)


def as_utc(moment: datetime) -> datetime:
    """``moment`` in UTC; ValueError for a naive datetime (its instant would be a guess)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("datetime must be timezone-aware")
    return moment.astimezone(UTC)


def iso_utc(moment: datetime) -> str:
    """ISO-8601 in UTC with a ``Z`` suffix (microseconds only when non-zero)."""
    return as_utc(moment).isoformat().replace("+00:00", "Z")
