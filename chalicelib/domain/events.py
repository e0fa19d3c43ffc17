"""Domain events: what happened in a tenant, told to other systems with identifiers and dates only.

An event is published to the region's EventBridge bus (detail-type = ``event_type``) and to the tenant's
webhook endpoints that chose its type. Its ``event_id`` is derived from what it reports (the audit event's
hash, or the alert's subject and date), never random: a publish redone after a crash carries the same id,
so delivery is at least once and a consumer drops what it has seen by ``event_id``.

Most events come from the sealed audit trail (``from_audit_event``): a write and its audit event are one
transaction, so an event exists exactly when its write committed. Alerts of the hourly job and the end
of an import are built by the functions below (they have no audit event of their own).
The JSON schema of every detail type is published in ``schemas/events/<event_type>.json``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

REQUEST_CREATED = "request.created"
REQUEST_DUE_SOON = "request.due_soon"
REQUEST_OVERDUE = "request.overdue"
REQUEST_FULFILLED = "request.fulfilled"
LEARNER_ERASED = "learner.erased"
INCIDENT_RECORDED = "incident.recorded"
INCIDENT_DEADLINE_NEAR = "incident.deadline_near"
AUDIT_EVENT_ALTERED = "audit.event_altered"
IMPORT_FINISHED = "import.finished"

EVENT_TYPES = (REQUEST_CREATED, REQUEST_DUE_SOON, REQUEST_OVERDUE, REQUEST_FULFILLED, LEARNER_ERASED,
               INCIDENT_RECORDED, INCIDENT_DEADLINE_NEAR, AUDIT_EVENT_ALTERED, IMPORT_FINISHED)
SOURCE = "enclave"
"""The EventBridge ``source`` of every event (rules match on it and on ``detail-type``)."""
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class DomainEvent:
    """One event: its type, the tenant, when it happened, and the identifiers and dates it names."""

    event_id: str
    event_type: str
    tenant_id: str
    region: str
    occurred_at: str
    data: Mapping[str, Any] = field(default_factory=dict)
    audit_seq: int | None = None

    def detail(self) -> dict[str, Any]:
        """The EventBridge detail and the webhook body (the same document)."""
        detail: dict[str, Any] = {"version": SCHEMA_VERSION, "event_id": self.event_id, "event_type": self.event_type,
                                  "tenant_id": self.tenant_id, "region": self.region,
                                  "occurred_at": self.occurred_at, "data": dict(self.data)}
        if self.audit_seq is not None:
            detail["audit_seq"] = self.audit_seq
        return detail


class EventPublisher(Protocol):
    """Where domain events go (the EventBridge bus; a list in tests). Raises when they did not all go."""

    def publish(self, events: Iterable[DomainEvent]) -> None: ...


def event_id(*parts: str) -> str:
    """A stable id for the event named by ``parts`` (``evt_`` and 32 hex digits)."""
    return "evt_" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def _pick(details: Mapping[str, Any], *names: str) -> dict[str, Any]:
    return {name: details[name] for name in names if details.get(name) is not None}


def _altered(details: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    return AUDIT_EVENT_ALTERED, {"altered_event_id": details.get("event_id"), **_pick(details, "change", "sealed_seq")}


def _created(details: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    return REQUEST_CREATED, _pick(details, "request_id", "learner_id", "type", "received_at", "due_at")


def _fulfilled(details: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    return REQUEST_FULFILLED, _pick(details, "request_id", "learner_id", "type")


def _erased(details: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    return LEARNER_ERASED, {**_pick(details, "learner_id"), "cause": "erasure"}


def _shredded(details: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    return LEARNER_ERASED, {**_pick(details, "learner_id"), "cause": "retention"}


def _incident(details: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    deadlines = [str(d["due_at"]) for d in details.get("deadlines", [])
                 if isinstance(d, Mapping) and d.get("due_at")]  # a paused clock has no due date
    return INCIDENT_RECORDED, {**_pick(details, "incident_id", "discovered_at"), "deadlines": sorted(deadlines)}


def _import_finished(details: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    return IMPORT_FINISHED, _pick(details, "import_id", "finished_at", "created", "failed")


_MAPPERS: dict[tuple[str, str], Callable[[Mapping[str, Any]], tuple[str, dict[str, Any]]]] = {
    ("audit.event_altered", "detected"): _altered,
    ("request.create", "success"): _created,
    ("request.fulfil", "success"): _fulfilled,
    ("learner.erase", "success"): _erased,
    ("retention.shred", "success"): _shredded,
    ("incident.create", "success"): _incident,
    ("import.complete", "success"): _import_finished,
}
"""(audit action, outcome) -> the domain event type and data it stands for; reads and refusals stand for none."""


def from_audit_event(event: Mapping[str, Any]) -> DomainEvent | None:
    """The domain event a sealed audit event stands for, or None (reads, refusals, other actions)."""
    mapper = _MAPPERS.get((str(event.get("action")), str(event.get("outcome"))))
    if mapper is None:
        return None
    event_type, data = mapper(event.get("details") or {})
    return _of(event, event_type, data)


def _of(event: Mapping[str, Any], event_type: str, data: Mapping[str, Any]) -> DomainEvent:
    return DomainEvent(event_id=event_id(str(event["tenant_id"]), str(event["hash"])), event_type=event_type,
                       tenant_id=str(event["tenant_id"]), region=str(event["region"]), occurred_at=str(event["at"]),
                       data=data, audit_seq=int(event["seq"]))


def request_due_soon(tenant_id: str, region: str, request_id: str, due_at: str, at: str,
                     threshold: str = "") -> DomainEvent:
    """The alerts job's ``request.due_soon``: one per request, due date and threshold (a rerun: the same id)."""
    return _alert(REQUEST_DUE_SOON, tenant_id, region, at, {"request_id": request_id, "due_at": due_at},
                  key=(request_id, due_at, threshold))


def request_overdue(tenant_id: str, region: str, request_id: str, due_at: str, at: str,
                    threshold: str = "") -> DomainEvent:
    """The alerts job's ``request.overdue``: one per request, due date and threshold."""
    return _alert(REQUEST_OVERDUE, tenant_id, region, at, {"request_id": request_id, "due_at": due_at},
                  key=(request_id, due_at, threshold))


def incident_deadline_near(tenant_id: str, region: str, incident_id: str, due_at: str, at: str,
                           threshold: str = "") -> DomainEvent:
    """The alerts job's ``incident.deadline_near``: one per incident, deadline and threshold."""
    return _alert(INCIDENT_DEADLINE_NEAR, tenant_id, region, at, {"incident_id": incident_id, "due_at": due_at},
                  key=(incident_id, due_at, threshold))


def _alert(event_type: str, tenant_id: str, region: str, at: str, data: Mapping[str, Any],
           key: tuple[str, ...] | None = None) -> DomainEvent:
    subject = key or tuple(str(value) for value in data.values())
    return DomainEvent(event_id=event_id(event_type, tenant_id, *subject), event_type=event_type,
                       tenant_id=tenant_id, region=region, occurred_at=at, data=data)
