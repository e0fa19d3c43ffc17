"""Retention, the pure part: when a learner's records expire, and the departure that starts the clock.

The law packs' retention rules for ``learner``, ``results`` and ``consents`` count from
``after: learner_left``. The reference time is the learner's **departure date** (``left_on``), which
the tenant records when a learner leaves (``PUT .../learners/{learner_id}/departure``); a learner with
no departure date is still enrolled and nothing of theirs expires. The last activity
(``updated_at``) is deliberately not used: a learner whose profile has not changed for three years
may still be sitting exams, and shredding them would be the worse error.

``left_on`` is a calendar day; its reference instant is 00:00 UTC of that day, and a record expires
at ``deadlines.retention_expires_at`` (reference + the rule's days). A rule counted from any other
event (``request_closed``, ``event_recorded``) never expires a learner's records here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from pydantic import BaseModel, ConfigDict

from chalicelib.domain.deadlines import retention_expires_at
from chalicelib.domain.jurisdictions import JurisdictionPolicy

LEARNER_RECORDS: tuple[str, ...] = ("learner", "results", "consents")
"""Record types of a learner whose rules count from the learner leaving."""
RECORD_KINDS = {"R": "results", "C": "consents"}
"""Item kinds under ``L#<learner_id>#`` (data table) and the retention rule each follows."""


class DepartureUpdate(BaseModel):
    """Body of ``PUT .../learners/{learner_id}/departure``: the day the learner left, or null (still enrolled)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    left_on: date | None


def reference_of(left_on: date) -> datetime:
    return datetime.combine(left_on, time.min, UTC)


@dataclass(frozen=True)
class Expiry:
    """When each of a learner's record types expires (None: this sweep never expires it)."""

    at: dict[str, datetime | None]

    def due(self, record_type: str, now: datetime) -> bool:
        moment = self.at.get(record_type)
        return moment is not None and moment <= now

    def all_due(self, now: datetime) -> bool:
        return all(self.due(record_type, now) for record_type in LEARNER_RECORDS)


def expiry(policy: JurisdictionPolicy, left_on: date) -> Expiry:
    reference = reference_of(left_on)
    return Expiry({
        record_type: retention_expires_at(record_type, reference, policy)
        if policy.retention_rule(record_type).after == "learner_left" else None
        for record_type in LEARNER_RECORDS
    })


def latest_departure_with_expiry(policy: JurisdictionPolicy, now: datetime) -> date | None:
    """The last ``left_on`` day for which some record type has expired by ``now`` (None: none can)."""
    days = [policy.retention_rule(t).days for t in LEARNER_RECORDS if policy.retention_rule(t).after == "learner_left"]
    if not days:
        return None
    return (now.astimezone(UTC) - timedelta(days=min(days))).date()
