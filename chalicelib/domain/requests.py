"""Data-subject requests (access, rectification, erasure, restriction): bodies, due dates, states.

A request holds identifiers and dates only (never a personal value), so it can outlive the erasure
of the learner it is about. Its due date comes from the tenant's law pack and its state's overlay,
the stricter winning (``applicable.request_deadline``); nothing here knows a number of days.

Lifecycle: ``open`` -> ``fulfilled`` | ``rejected`` (both final). Access, erasure and restriction are
fulfilled at creation when nothing blocks them; rectification stays open until the learner has been
corrected (``PATCH .../learners/{id}``) and the request is closed with ``POST .../fulfil``.

Paused: where the law stops the clock while the controller waits for proof of identity or a
clarification (``JurisdictionPolicy.clock_stop``: UK GDPR Art. 12A), an open request may be paused
(or recorded paused, which holds back the fulfilment of an access, erasure or restriction request);
on resume its due date moves by exactly the time it was paused. A paused request is not listed as
overdue, may be rejected (``identity_not_verified``) but not fulfilled until resumed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from chalicelib.domain.applicable import TenantScope, request_deadline
from chalicelib.domain.audit import format_at
from chalicelib.domain.catalog import JurisdictionCatalog
from chalicelib.domain.deadlines import as_utc
from chalicelib.domain.errors import BadRequest, ValidationFailed
from chalicelib.domain.ids import is_valid_id
from chalicelib.domain.jurisdictions import JurisdictionPolicy, PauseReason, RequestType

Status = Literal["open", "fulfilled", "rejected"]
Urgency = Literal["overdue", "due_soon", "on_time"]
RejectionReason = Literal[
    "legal_hold", "identity_not_verified", "manifestly_unfounded", "no_change_needed", "right_does_not_apply",
]

DUE_SOON = timedelta(days=5)
"""Default horizon of "due soon" in the overdue listing (a parameter of the service and the route)."""
MAX_RECEIPT_AGE = timedelta(days=366)
"""``received_at`` further back than this is refused: a typo, not a letter found in a drawer."""
CLOCK_SKEW = timedelta(minutes=2)
"""A ``received_at`` at most this far ahead of our clock is the client's clock running fast: taken as now."""
PACKAGE_LIFETIME = timedelta(days=7)
"""How long an access package stays in the export bucket: its lifecycle rule
(``deploy.render.EXPORT_EXPIRY_DAYS``; a test keeps the two equal)."""
AUTO_FULFILLED: tuple[str, ...] = ("access", "erasure", "restriction")
"""Types fulfilled at creation (rectification needs a human to correct the record first)."""


def _learner_id(value: str) -> str:
    if not is_valid_id(value, "lrn"):
        raise ValueError("must be a learner id (lrn_...)")
    return value


class RequestCreate(BaseModel):
    """Body of ``POST /v1/tenants/{tenant_id}/requests``.

    ``received_at``: when the request reached the tenant (ISO-8601 with a time zone); default now.
    """

    model_config = ConfigDict(extra="forbid", defer_build=True)

    learner_id: Annotated[str, Field(max_length=40), AfterValidator(_learner_id)]
    type: RequestType
    received_at: AwareDatetime | None = None
    paused_for: PauseReason | None = None
    """Record the request paused from now (the school has asked for ID or a clarification): nothing is
    fulfilled until ``POST .../resume``. Only where the law stops the clock."""


class RequestPause(BaseModel):
    """Body of ``POST .../requests/{request_id}/pause``."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    reason: PauseReason


def check_clock_stop(policy: JurisdictionPolicy, reason: str, day: datetime) -> None:
    """422 naming the law unless ``policy``'s law stops a request's clock for ``reason`` on ``day``."""
    stop = policy.clock_stop
    laws = "; ".join(policy.laws)
    if stop is None:
        raise ValidationFailed([{"field": "reason", "message": (
            f"the law of {policy.name} ({laws}) does not stop a request's clock while waiting for identity or "
            "clarification: the due date stands")}], message=f"{policy.name}: the clock cannot be stopped")
    if as_utc(day).date().isoformat() < stop.in_force_from:
        raise ValidationFailed([{"field": "reason", "message": (
            f"{'; '.join(stop.sources)} stops the clock only from {stop.in_force_from}")}],
            message=f"{policy.name}: the clock cannot be stopped before {stop.in_force_from}")
    if reason not in stop.reasons:
        raise ValidationFailed([{"field": "reason", "message": (
            f"{'; '.join(stop.sources)} stops the clock only for: {', '.join(stop.reasons)}")}])


@dataclass(frozen=True)
class Pause:
    """One stop of a request's clock: from ``paused_at`` until ``resumed_at`` (None: still paused)."""

    reason: str
    paused_at: datetime
    resumed_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"reason": self.reason, "paused_at": format_at(self.paused_at)}
        if self.resumed_at is not None:
            doc["resumed_at"] = format_at(self.resumed_at)
            doc["paused_days"] = round((self.resumed_at - self.paused_at) / timedelta(days=1), 2)
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Pause:
        resumed = doc.get("resumed_at")
        return cls(doc["reason"], datetime.fromisoformat(doc["paused_at"]),
                   datetime.fromisoformat(resumed) if resumed else None)


class RequestClose(BaseModel):
    """Body of ``POST .../requests/{request_id}/fulfil``.

    ``{}`` fulfils the request; ``{"outcome": "rejected", "reason": ...}`` refuses it.
    """

    model_config = ConfigDict(extra="forbid", defer_build=True)

    outcome: Literal["fulfilled", "rejected"] = "fulfilled"
    reason: RejectionReason | None = None

    @model_validator(mode="after")
    def _reason_with_rejection(self) -> RequestClose:
        if (self.outcome == "rejected") != (self.reason is not None):
            raise ValueError("a reason is required with outcome rejected, and only then")
        return self


def received_moment(value: datetime | None, now: datetime) -> datetime:
    """The request's receipt time in UTC: ``now`` by default; 422 in the future or absurdly far back."""
    if value is None:
        return as_utc(now)
    received = as_utc(value)
    if received > now + CLOCK_SKEW:
        raise ValidationFailed([{"field": "received_at", "message": "must not be in the future"}])
    if received < now - MAX_RECEIPT_AGE:
        raise ValidationFailed([{"field": "received_at",
                                 "message": f"must be within the last {MAX_RECEIPT_AGE.days} days"}])
    return min(received, as_utc(now))


def urgency(due_at: datetime, now: datetime, soon: timedelta = DUE_SOON) -> Urgency:
    """``overdue`` once ``due_at`` has passed, ``due_soon`` within ``soon`` of it, else ``on_time``."""
    if now > due_at:
        return "overdue"
    if now + soon >= due_at:
        return "due_soon"
    return "on_time"


@dataclass(frozen=True)
class DataSubjectRequest:
    """One request as stored (identifiers, dates and outcomes only)."""

    request_id: str
    tenant_id: str
    learner_id: str
    type: str
    jurisdiction: str
    region: str
    received_at: datetime
    due_at: datetime
    statutory: bool
    deadline: dict[str, Any]
    created_at: datetime
    status: Status = "open"
    fulfilled_at: datetime | None = None
    closed_at: datetime | None = None
    rejection_reason: str | None = None
    outcome: dict[str, Any] = field(default_factory=dict)
    """Non-personal evidence of fulfilment: an erasure receipt, a package's object key and counts, ..."""
    pauses: tuple[Pause, ...] = ()
    """Every stop of the clock, oldest first; ``due_at`` already includes the time of those resumed."""

    @classmethod
    def new(cls, request_id: str, tenant_id: str, region: str, learner_id: str, request_type: str,
            received_at: datetime, now: datetime, catalog: JurisdictionCatalog,
            scope: TenantScope) -> DataSubjectRequest:
        """A new open request; its deadline is the stricter of the national and state rules in force
        on the day of receipt (``applicable.request_deadline``), named in ``deadline``."""
        rule, due_at, deadline = request_deadline(catalog, scope, request_type, received_at)
        return cls(request_id=request_id, tenant_id=tenant_id, learner_id=learner_id, type=request_type,
                   jurisdiction=scope.jurisdiction, region=region, received_at=as_utc(received_at),
                   due_at=due_at, statutory=rule.statutory, deadline=deadline, created_at=as_utc(now))

    @property
    def is_open(self) -> bool:
        return self.status == "open"

    @property
    def is_paused(self) -> bool:
        return self.is_open and bool(self.pauses) and self.pauses[-1].resumed_at is None

    def paused(self, at: datetime, reason: str) -> DataSubjectRequest:
        return replace(self, pauses=(*self.pauses, Pause(reason, as_utc(at))))

    def resumed(self, at: datetime) -> DataSubjectRequest:
        """The clock runs again; the due date moves by exactly the time it stood still."""
        last = self.pauses[-1]
        resumed_at = max(as_utc(at), last.paused_at)
        return replace(self, due_at=self.due_at + (resumed_at - last.paused_at),
                       pauses=(*self.pauses[:-1], replace(last, resumed_at=resumed_at)))

    def fulfilled(self, at: datetime, **outcome: Any) -> DataSubjectRequest:
        return replace(self, status="fulfilled", fulfilled_at=as_utc(at), closed_at=as_utc(at),
                       outcome={**self.outcome, **outcome})

    def rejected(self, at: datetime, reason: str) -> DataSubjectRequest:
        return replace(self, status="rejected", closed_at=as_utc(at), rejection_reason=reason)

    def to_json(self) -> dict[str, Any]:
        """The stored document (and, minus internals, the API view)."""
        doc: dict[str, Any] = {
            "request_id": self.request_id, "tenant_id": self.tenant_id, "learner_id": self.learner_id,
            "type": self.type, "status": self.status, "jurisdiction": self.jurisdiction, "region": self.region,
            "received_at": format_at(self.received_at), "due_at": format_at(self.due_at),
            "statutory": self.statutory, "deadline": self.deadline, "created_at": format_at(self.created_at),
        }
        if self.fulfilled_at is not None:
            doc["fulfilled_at"] = format_at(self.fulfilled_at)
        if self.closed_at is not None:
            doc["closed_at"] = format_at(self.closed_at)
        if self.rejection_reason is not None:
            doc["rejection_reason"] = self.rejection_reason
        if self.outcome:
            doc["outcome"] = self.outcome
        if self.pauses:
            doc["pauses"] = [pause.to_json() for pause in self.pauses]
            doc["paused"] = self.is_paused
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> DataSubjectRequest:
        def moment(name: str) -> datetime | None:
            return datetime.fromisoformat(doc[name]) if doc.get(name) else None

        return cls(request_id=doc["request_id"], tenant_id=doc["tenant_id"], learner_id=doc["learner_id"],
                   type=doc["type"], jurisdiction=doc["jurisdiction"], region=doc["region"],
                   received_at=datetime.fromisoformat(doc["received_at"]),
                   due_at=datetime.fromisoformat(doc["due_at"]), statutory=bool(doc["statutory"]),
                   deadline=dict(doc["deadline"]), created_at=datetime.fromisoformat(doc["created_at"]),
                   status=doc["status"], fulfilled_at=moment("fulfilled_at"),
                   closed_at=moment("closed_at"), rejection_reason=doc.get("rejection_reason"),
                   outcome=dict(doc.get("outcome") or {}),
                   pauses=tuple(Pause.from_json(pause) for pause in doc.get("pauses", ())))


MAX_DUE_WITHIN_DAYS = 90


def overdue_query(query: Mapping[str, str]) -> tuple[bool, timedelta | None]:
    """``GET /v1/requests?overdue=true[&due_soon=false][&due_within_days=N]`` as (include_due_soon, horizon)."""
    if query.get("overdue", "").lower() != "true":
        raise BadRequest("this listing needs overdue=true (open requests past or near their due date)")
    due_soon = query.get("due_soon", "true").lower()
    if due_soon not in ("true", "false"):
        raise ValidationFailed([{"field": "due_soon", "message": "must be true or false"}])
    within = query.get("due_within_days")
    if within is None:
        return due_soon == "true", None
    if not within.isdigit() or int(within) > MAX_DUE_WITHIN_DAYS:
        raise ValidationFailed([{"field": "due_within_days",
                                 "message": f"must be a whole number of days from 0 to {MAX_DUE_WITHIN_DAYS}"}])
    return due_soon == "true", timedelta(days=int(within))


REQUEST_STATUSES = ("open", "fulfilled", "rejected")


def tenant_list_query(query: Mapping[str, str]) -> tuple[str | None, datetime | None]:
    """``GET .../requests?status=&due_before=``: a stored status, and open requests due before a day or moment."""
    status = query.get("status") or None
    if status is not None and status not in REQUEST_STATUSES:
        raise ValidationFailed([{"field": "status", "message": f"must be one of {', '.join(REQUEST_STATUSES)}"}])
    text = query.get("due_before") or None
    if text is None:
        return status, None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationFailed([{"field": "due_before",
                                 "message": "must be a date (2026-12-31) or a time with its zone"}]) from None
    if moment.tzinfo is None:
        if "T" in text:
            raise ValidationFailed([{"field": "due_before", "message": "a time needs its zone (Z or +hh:mm)"}])
        moment = moment.replace(tzinfo=UTC)
    return status, moment
