"""Reminders and alerts: what is due or wrong, who is told, and what a message may say.

The hourly job (``services/alerts.py``) turns what it finds into ``Alert`` values: a kind, a threshold,
the item's id, the tenants it concerns, a deadline and counts. Nothing else: no name, e-mail address,
summary or free text of anyone, so an alert can go anywhere (an e-mail, the console's inbox, a later
EventBridge or webhook publisher) without carrying a personal value. ``alert_id`` is a digest of
(kind, item, threshold): the ledger keys on it, so each item is told once per threshold.

Thresholds: a request due within 7 days (``7d``), within 2 days (``2d``), past due (``overdue``); an
incident deadline within 24 hours (``24h``) or passed (``passed``); an audit finding (``found``). Only the
most urgent threshold an item has reached is raised (a request first seen 1 day before its due date is
told ``2d``, never ``7d`` afterwards).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

AlertKind = Literal["request.due_soon", "request.overdue", "incident.deadline_near", "incident.deadline_passed",
                    "audit.event_altered", "audit.event_missing"]
KINDS: tuple[AlertKind, ...] = ("request.due_soon", "request.overdue", "incident.deadline_near",
                                "incident.deadline_passed", "audit.event_altered", "audit.event_missing")
FINDING_KINDS: tuple[AlertKind, ...] = ("audit.event_altered", "audit.event_missing")
REGION_ROLES = ("regional_admin", "compliance_officer")
"""Told of every alert of their region."""
TENANT_ROLE = "tenant_admin"
"""Told of their own tenant's request alerts."""

TITLES: dict[str, str] = {
    "request.due_soon": "A data-subject request is due soon",
    "request.overdue": "A data-subject request is overdue",
    "incident.deadline_near": "An incident notification deadline is near",
    "incident.deadline_passed": "An incident notification deadline has passed",
    "audit.event_altered": "An audit event was altered",
    "audit.event_missing": "An audit event is missing",
}


@dataclass(frozen=True)
class Alert:
    """One thing to tell, identifiers and dates only."""

    kind: AlertKind
    threshold: str
    region: str
    subject_id: str
    """The request id, ``<incident_id>/<deadline index>`` or the finding's event id."""
    tenant_ids: tuple[str, ...]
    raised_at: str
    due_at: str | None = None
    counts: Mapping[str, int] = field(default_factory=dict)
    link: str = ""

    @property
    def alert_id(self) -> str:
        digest = hashlib.sha256(f"{self.kind}|{self.subject_id}|{self.threshold}".encode()).hexdigest()
        return f"alr_{digest[:24]}"

    @property
    def for_tenant_admins(self) -> bool:
        return self.kind.startswith("request.")

    def to_json(self) -> dict[str, Any]:
        return {"alert_id": self.alert_id, "kind": self.kind, "threshold": self.threshold, "region": self.region,
                "subject_id": self.subject_id, "tenant_ids": list(self.tenant_ids), "due_at": self.due_at,
                "counts": dict(self.counts), "raised_at": self.raised_at, "link": self.link,
                "title": TITLES[self.kind]}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Alert:
        return cls(kind=doc["kind"], threshold=doc["threshold"], region=doc["region"], subject_id=doc["subject_id"],
                   tenant_ids=tuple(doc["tenant_ids"]), raised_at=doc["raised_at"], due_at=doc.get("due_at"),
                   counts=dict(doc.get("counts") or {}), link=doc.get("link", ""))


def request_threshold(due_at: datetime, now: datetime) -> tuple[AlertKind, str] | None:
    """The most urgent threshold an open request has reached, or None (due in more than 7 days)."""
    left = due_at - now
    if left <= timedelta(0):
        return "request.overdue", "overdue"
    if left <= timedelta(days=2):
        return "request.due_soon", "2d"
    if left <= timedelta(days=7):
        return "request.due_soon", "7d"
    return None


def incident_threshold(due_at: datetime, now: datetime) -> tuple[AlertKind, str] | None:
    """An incident deadline passed, or within 24 hours; else None."""
    left = due_at - now
    if left <= timedelta(0):
        return "incident.deadline_passed", "passed"
    if left <= timedelta(hours=24):
        return "incident.deadline_near", "24h"
    return None


@dataclass(frozen=True)
class Recipient:
    """A user of the region's pool who may be told: ids, role and (for e-mail) the address in the pool."""

    sub: str
    role: str
    tenant_id: str | None = None
    email: str | None = None


def audience(alert: Alert, people: Sequence[Recipient]) -> list[Recipient]:
    """Who acts on ``alert``: the region's compliance officers and regional admins, and for a request the
    admins of its tenant. Nobody else (tenant staff, other tenants' admins, other regions' users)."""
    chosen = [p for p in people if p.role in REGION_ROLES
              or (alert.for_tenant_admins and p.role == TENANT_ROLE and p.tenant_id in alert.tenant_ids)]
    return sorted({p.sub: p for p in chosen}.values(), key=lambda p: p.sub)


class Channels(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    email: bool = True
    inbox: bool = True


class ChannelsPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: bool | None = None
    inbox: bool | None = None


class NotificationsUpdate(BaseModel):
    """``PUT /v1/me/notifications``: per alert kind, whether it comes by e-mail and into the inbox (omitted:
    unchanged)."""

    model_config = ConfigDict(extra="forbid")

    alerts: dict[AlertKind, ChannelsPatch] = Field(max_length=len(KINDS))


class InboxRead(BaseModel):
    """``POST /v1/me/inbox/read``: the inbox items to mark read."""

    model_config = ConfigDict(extra="forbid")

    ids: list[str] = Field(min_length=1, max_length=100)


@dataclass(frozen=True)
class Preferences:
    """A user's choice per kind; every kind on both channels unless turned off."""

    alerts: Mapping[str, Channels] = field(default_factory=dict)

    def of(self, kind: str) -> Channels:
        return self.alerts.get(kind) or Channels()

    def updated(self, change: NotificationsUpdate) -> Preferences:
        merged = dict(self.alerts)
        for kind, patch in change.alerts.items():
            merged[kind] = self.of(kind).model_copy(update=patch.model_dump(exclude_none=True))
        return Preferences(merged)

    def to_json(self) -> dict[str, Any]:
        return {"alerts": {kind: self.of(kind).model_dump() for kind in KINDS}}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Preferences:
        return cls({kind: Channels.model_validate(value) for kind, value in (doc.get("alerts") or {}).items()
                    if kind in KINDS})


@dataclass(frozen=True)
class Message:
    """An e-mail of one alert: subject and plain text built from the alert alone."""

    subject: str
    text: str


def message(alert: Alert) -> Message:
    """What the e-mail says: the kind, ids, deadline, counts and the console link; nothing else."""
    lines = [TITLES[alert.kind] + ".", "", f"Item: {alert.subject_id}", f"Region: {alert.region}"]
    if alert.tenant_ids:
        lines.append("Tenant(s): " + ", ".join(alert.tenant_ids))
    if alert.due_at:
        lines.append(f"Deadline: {readable(alert.due_at)}")
    lines += [f"{name.replace('_', ' ').capitalize()}: {value}" for name, value in sorted(alert.counts.items())]
    lines += [f"Threshold: {alert.threshold}", "", f"Open the console: {alert.link}", "",
              "You receive this because of your role in Enclave; choose which alerts you get in the console "
              "(Inbox > Settings) or with PUT /v1/me/notifications."]
    subject = f"[Enclave {alert.region}] {TITLES[alert.kind]}: {alert.subject_id}"
    return Message(subject=subject, text="\n".join(lines))


def readable(iso: str) -> str:
    """``2027-01-10T09:00:00.000000Z`` as people read it in an e-mail: ``2027-01-10 09:00 UTC``."""
    try:
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment.tzinfo else iso


class Notifier(Protocol):
    """Sends one alert to one person (SES is one adapter; a webhook or EventBridge publisher another)."""

    def send(self, alert: Alert, recipient: Recipient) -> None: ...
