"""The hourly reminders job of one region: find what is due or wrong, tell the people who act, once.

``findings`` yields domain alerts (``request.due_soon``/``request.overdue`` from the region's open requests,
``incident.deadline_near``/``incident.deadline_passed`` from its incidents' deadlines, ``audit.event_altered``
/``audit.event_missing`` from its tenants' chains), identifiers and dates only; ``tell`` hands each to the
people of its audience through the ``Notifier`` (SES) and their inboxes, as their preferences say. A later
EventBridge or webhook publisher can consume ``findings`` the same way.

Never twice: each (alert, user) is claimed in the ledger (a conditional put) before that user is told; a
failed e-mail marks the claim for a retry (the next run sends that e-mail only). An alert whose audience was gone
through is recorded (``SENT``) and, in each tenant chain it names, audited once as ``alert.sent`` (counts).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import chain
from typing import Any, Protocol

from chalicelib.adapters.alert_store import AlertStore
from chalicelib.adapters.audit_store import AuditStore
from chalicelib.adapters.incident_store import IncidentStore
from chalicelib.adapters.request_store import RequestStore
from chalicelib.domain.alerts import (
    FINDING_KINDS,
    Alert,
    Notifier,
    Recipient,
    audience,
    incident_threshold,
    request_threshold,
)
from chalicelib.domain.audit import AuditEventDraft, format_at
from chalicelib.domain.errors import EnclaveError
from chalicelib.domain.tenants import Tenant

logger = logging.getLogger(__name__)

JOB_SUB = "system:alerts"
FIRST_LOOK = timedelta(days=7)
"""A tenant's chain the job has never read is read from the events of the last 7 days."""
MAX_EVENTS_PER_RUN = 20_000
"""Audit events read per tenant and run at most; the next run goes on from there."""
INCIDENT_PAGE = 100


class Directory(Protocol):
    def in_region(self, home_region: str) -> list[Tenant]: ...


class People(Protocol):
    def people(self) -> list[Recipient]: ...


@dataclass
class RunReport:
    alerts: int = 0
    new: int = 0
    emailed: int = 0
    inboxed: int = 0
    failed: int = 0
    kinds: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"alerts": self.alerts, "new": self.new, "emailed": self.emailed, "inboxed": self.inboxed,
                "failed": self.failed, "kinds": dict(sorted(self.kinds.items()))}


class AlertJob:
    def __init__(self, directory: Directory, requests: RequestStore, incidents: IncidentStore, audit: AuditStore,
                 alerts: AlertStore, people: People, notifier: Notifier, clock: Callable[[], datetime],
                 region: str, jurisdiction: str, console_link: str,
                 on_new_alert: Callable[[Alert], object] | None = None) -> None:
        """``on_new_alert``: called once per alert not yet told (the domain events' publisher)."""
        self._on_new_alert = on_new_alert
        self._directory = directory
        self._requests = requests
        self._incidents = incidents
        self._audit = audit
        self._alerts = alerts
        self._people = people
        self._notifier = notifier
        self._clock = clock
        self._region = region
        self._jurisdiction = jurisdiction
        self._link = console_link

    def run(self, request_id: str | None = None) -> dict[str, Any]:
        """Find and tell; the report counts alerts found, newly told, e-mails and inbox items. A tenant's audit
        cursor moves past its findings only once every one was told (a failed e-mail is found again)."""
        now = self._clock()
        raised = format_at(now)
        report = RunReport()
        pool: dict[str, list[Recipient]] = {}

        def handle(alert: Alert) -> bool:  # whether the alert is (now) finished
            report.alerts += 1
            report.kinds[alert.kind] = report.kinds.get(alert.kind, 0) + 1
            if self._alerts.told(alert):
                return True
            if self._on_new_alert is not None:
                self._on_new_alert(alert)
            if "people" not in pool:  # the pool is read once, and only when something is new
                pool["people"] = self._people.people()
            return self._tell(alert, audience(alert, pool["people"]), report, request_id or "-")

        for alert in chain(self._request_alerts(now, raised), self._incident_alerts(now, raised)):
            handle(alert)
        for tenant in self._directory.in_region(self._region):
            found, last = self.audit_findings(tenant, now, raised)
            told = [handle(alert) for alert in found]
            if last is not None and all(told):
                self._alerts.move_cursor(tenant.tenant_id, last)
        logger.info("alerts run", extra={"region": self._region, **report.to_json()})
        return {"region": self._region, "as_of": format_at(now), **report.to_json()}

    def findings(self, now: datetime) -> Iterator[Alert]:
        """Every alert due now (already told or not), identifiers and dates only; audit findings since each
        tenant's cursor (this does not move it): what a later EventBridge or webhook publisher would consume."""
        raised = format_at(now)
        yield from self._request_alerts(now, raised)
        yield from self._incident_alerts(now, raised)
        for tenant in self._directory.in_region(self._region):
            yield from self.audit_findings(tenant, now, raised)[0]

    def _request_alerts(self, now: datetime, raised: str) -> Iterator[Alert]:
        for request in self._requests.open_due_by(self._jurisdiction, self._region, format_at(now + timedelta(days=7))):
            reached = request_threshold(request.due_at, now) if request.is_open and not request.is_paused else None
            if reached is None:
                continue
            kind, threshold = reached
            yield Alert(kind=kind, threshold=threshold, region=self._region, subject_id=request.request_id,
                        tenant_ids=(request.tenant_id,), raised_at=raised, due_at=format_at(request.due_at),
                        counts={"days_left": max(0, (request.due_at - now).days)}, link=self._link)

    def _incident_alerts(self, now: datetime, raised: str) -> Iterator[Alert]:
        after: str | None = None
        while True:
            docs, after = self._incidents.page(self._jurisdiction, after, INCIDENT_PAGE)
            for doc in docs:
                yield from self._deadline_alerts(doc, now, raised)
            if after is None:
                return

    def _deadline_alerts(self, doc: dict[str, Any], now: datetime, raised: str) -> Iterator[Alert]:
        affected = doc.get("affected") or {}
        tenants = tuple(affected.get("tenants") or ())
        for index, deadline in enumerate(doc.get("deadlines") or ()):
            if not deadline.get("due_at"):
                continue
            reached = incident_threshold(_parse(deadline["due_at"]), now)
            if reached is None:
                continue
            kind, threshold = reached
            yield Alert(kind=kind, threshold=threshold, region=self._region,
                        subject_id=f"{doc['incident_id']}/{index}", tenant_ids=tenants, raised_at=raised,
                        due_at=deadline["due_at"], link=self._link,
                        counts={"tenants": len(tenants), "learners": len(affected.get("learners") or ())})

    def audit_findings(self, tenant: Tenant, now: datetime, raised: str) -> tuple[list[Alert], int | None]:
        """The tenant's audit findings after its cursor, and the last seq read (None: nothing new to read)."""
        cursor = self._alerts.scan_cursor(tenant.tenant_id)
        if cursor is None:
            seqs = self._audit.seq_range(tenant.tenant_id, tenant.jurisdiction, format_at(now - FIRST_LOOK), None)
            if seqs is None:  # nothing in the last week: start after the head
                head = self._audit.seq_range(tenant.tenant_id, tenant.jurisdiction, None, None)
                return [], head[1] if head else 0
            cursor = seqs[0] - 1
        found: list[Alert] = []
        last = cursor
        for event in self._audit.events(tenant.tenant_id, tenant.jurisdiction, cursor + 1):
            last = event["seq"]
            if event["action"] in FINDING_KINDS:
                details = event.get("details") or {}
                found.append(Alert(kind=event["action"], threshold="found", region=self._region,
                                   subject_id=str(details.get("event_id") or f"{tenant.tenant_id}/{event['seq']}"),
                                   tenant_ids=(tenant.tenant_id,), raised_at=raised, due_at=None, link=self._link,
                                   counts={"seq": int(event["seq"])}))
            if last - cursor >= MAX_EVENTS_PER_RUN:
                break
        return found, (last if last != cursor else None)

    def _tell(self, alert: Alert, people: list[Recipient], report: RunReport, request_id: str) -> bool:
        """Tell each person not yet told; whether the alert is finished (no e-mail failed)."""
        emailed = inboxed = failed = 0
        for person in people:
            claim = self._alerts.claim(alert, person.sub, alert.raised_at)
            if claim is None:
                continue
            choice = self._alerts.preferences(person.sub).of(alert.kind)
            if choice.inbox and claim == "new":
                self._alerts.deliver(person.sub, alert)
                inboxed += 1
            if choice.email and person.email:
                try:
                    self._notifier.send(alert, person)
                    emailed += 1
                except EnclaveError:
                    self._alerts.release(alert, person.sub)
                    failed += 1
        report.emailed += emailed
        report.inboxed += inboxed
        report.failed += failed
        if failed:
            return False  # not finished: the next run retries the users it could not reach
        if self._alerts.finish(alert, format_at(self._clock())):
            report.new += 1
            for tenant_id in alert.tenant_ids:
                self._audit.commit(tenant_id, self._jurisdiction, AuditEventDraft(
                    actor_sub=JOB_SUB, actor_role="system", action="alert.sent", resource=f"tenants/{tenant_id}",
                    outcome="success", request_id=request_id,
                    details={"alert_id": alert.alert_id, "kind": alert.kind, "threshold": alert.threshold,
                             "subject_id": alert.subject_id, "recipients": len(people), "emailed": emailed,
                             "inboxed": inboxed}))
        return True


def _parse(value: str) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
