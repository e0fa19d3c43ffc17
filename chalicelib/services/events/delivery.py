"""Publishing domain events after the write committed: to the region's bus and to the webhook queue.

Trail-derived events (``TrailEvents``): the audit sequencer calls ``after_batch`` for every tenant of a
stream batch once it has sealed it. The tenant's publish cursor says up to which seq events were published;
the chain's events past it are mapped to domain events (most map to none), published, queued for the
tenant's webhook endpoints, and only then is the cursor moved (conditional on the value read). So:

- a write never waits for, or fails because of, the bus: its audit event is in the same transaction as the
  write, and publishing happens later, from the sealed trail;
- a publish that fails (bus down, throttled) leaves the cursor: the next batch of the tenant tries the same
  events again. A crash after publishing and before moving the cursor publishes them again, with the same
  ``event_id`` (derived from the audit event's hash): delivery is at least once, consumers drop repeats by
  ``event_id``; the webhook queue itself refuses a second delivery of an event to an endpoint.

Alerts and the end of an import have no audit event of their own: ``EventSeam`` publishes them as they
happen (stable ids too, so a rerun of the job repeats ids, not events).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.adapters.audit_markers import AuditMarkers
from chalicelib.adapters.event_cursor import EventCursors
from chalicelib.adapters.webhook_store import WebhookStore
from chalicelib.domain import events as domain
from chalicelib.domain.audit import format_at
from chalicelib.domain.errors import EnclaveError
from chalicelib.domain.events import DomainEvent, EventPublisher, from_audit_event
from chalicelib.domain.tenants import Tenant
from chalicelib.domain.webhooks import Delivery, delivery_id

logger = logging.getLogger(__name__)

LOOKUP = 100
"""Seqs one look-up of the chain asks for (BatchGetItem's limit)."""
MAX_EVENTS = 2000
"""Seqs one call reads at most (a longer back-log goes on with the tenant's next batches)."""


def publish_failed() -> None:
    """Count a publish that failed (EMF metric ``Enclave/EventPublishFailures``)."""
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    with single_metric(name="EventPublishFailures", unit=MetricUnit.Count, value=1, namespace="Enclave") as metric:
        metric.add_dimension(name="service", value="enclave")


class DomainEvents:
    """Sends events to the bus, then queues one delivery per endpoint that chose the event's type."""

    def __init__(self, bus: EventPublisher, webhooks: WebhookStore, clock: Callable[[], datetime]) -> None:
        self._bus = bus
        self._webhooks = webhooks
        self._clock = clock

    def publish(self, jurisdiction: str, tenant_id: str, events: Sequence[DomainEvent]) -> int:
        """Publish ``events`` of one tenant; how many webhook deliveries were queued. Raises on failure."""
        if not events:
            return 0
        self._bus.publish(events)
        endpoints = self._webhooks.endpoints(jurisdiction, tenant_id)
        queued, now = 0, format_at(self._clock())
        for event in events:
            for endpoint in endpoints:
                if event.event_type in endpoint["event_types"]:
                    delivery = Delivery(delivery_id(endpoint["webhook_id"], event.event_id), endpoint["webhook_id"],
                                        event.event_id, event.event_type, _body(event), due_at=now)
                    queued += self._webhooks.enqueue(jurisdiction, tenant_id, delivery)
        return queued


def _body(event: DomainEvent) -> str:
    import json

    return json.dumps(event.detail(), separators=(",", ":"), sort_keys=True)


class TrailEvents:
    """The sequencer's hook: the domain events of what a tenant's batch sealed."""

    def __init__(self, cursors: EventCursors, chain: AuditMarkers, events: DomainEvents,
                 on_failure: Callable[[], None] = publish_failed, max_events: int = MAX_EVENTS) -> None:
        self._cursors = cursors
        self._chain = chain
        self._events = events
        self._on_failure = on_failure
        self._max_events = max_events

    def after_batch(self, tenant_id: str, jurisdiction: str) -> int:
        """``publish``, never raising (a failure is logged, counted and retried with the next batch)."""
        try:
            return self.publish(tenant_id, jurisdiction)
        except Exception:  # publishing must never stall sealing: counted, logged, retried with the next batch
            self._on_failure()
            logger.exception("publishing domain events failed; the next batch tries again from the cursor",
                             extra={"tenant_id": tenant_id})
            return 0

    def publish(self, tenant_id: str, jurisdiction: str) -> int:
        """Publish the domain events of the chain past the tenant's cursor; how many were published."""
        published = self._cursors.published(jurisdiction, tenant_id)
        chained = self._read(tenant_id, jurisdiction, published + 1)
        if not chained:
            return 0
        events = [e for e in (from_audit_event(event) for event in chained) if e is not None]
        self._events.publish(jurisdiction, tenant_id, events)
        self._cursors.advance(jurisdiction, tenant_id, published, int(chained[-1]["seq"]))
        return len(events)

    def _read(self, tenant_id: str, jurisdiction: str, first: int) -> list[dict[str, Any]]:
        """The chain's events from ``first`` on, stopping at the head (at most ``max_events``)."""
        found_all: list[dict[str, Any]] = []
        while len(found_all) < self._max_events:
            seqs = list(range(first + len(found_all), first + len(found_all) + LOOKUP))
            found = self._chain.chained(tenant_id, jurisdiction, seqs)
            for seq in seqs:
                if seq not in found:
                    return found_all
                found_all.append(found[seq])
        return found_all


class EventSeam:
    """What the hourly alerts job and the import worker call to publish their events (never raising:
    a failure is logged and counted; the caller's next run repeats the same ids)."""

    def __init__(self, events: DomainEvents, region: str, clock: Callable[[], datetime],
                 on_failure: Callable[[], None] = publish_failed,
                 tenant_of: Callable[[str], Tenant | None] = lambda tenant_id: None) -> None:
        """``tenant_of``: the directory's look-up (alerts name tenants by id)."""
        self._tenant_of = tenant_of
        self._events = events
        self._region = region
        self._clock = clock
        self._on_failure = on_failure

    def request_due_soon(self, tenant: Tenant, request_id: str, due_at: str) -> bool:
        return self._send(tenant, [domain.request_due_soon(tenant.tenant_id, self._region, request_id, due_at,
                                                           self._now())])

    def request_overdue(self, tenant: Tenant, request_id: str, due_at: str) -> bool:
        return self._send(tenant, [domain.request_overdue(tenant.tenant_id, self._region, request_id, due_at,
                                                          self._now())])

    def incident_deadline_near(self, tenant: Tenant, incident_id: str, due_at: str) -> bool:
        return self._send(tenant, [domain.incident_deadline_near(tenant.tenant_id, self._region, incident_id,
                                                                 due_at, self._now())])

    def from_alert(self, kind: str, threshold: str, subject_id: str, tenant_ids: Sequence[str],
                   due_at: str | None) -> bool:
        """An alert of the hourly job (kind, threshold, subject, tenants) as events: ``request.*`` name the
        request, ``incident.deadline_near`` the incident (subject ``<incident_id>/<deadline index>``). Audit
        findings are not published here: the trail publishes ``audit.event_altered`` already."""
        if due_at is None or kind not in (domain.REQUEST_DUE_SOON, domain.REQUEST_OVERDUE,
                                          domain.INCIDENT_DEADLINE_NEAR):
            return False
        now, sent = self._now(), True
        for tenant_id in tenant_ids:
            tenant = self._tenant_of(tenant_id)
            if tenant is None or tenant.home_region != self._region:
                continue  # an incident naming a tenant of another region: its data (and bus) stay there
            if kind == domain.INCIDENT_DEADLINE_NEAR:
                incident_id = subject_id.partition("/")[0]
                event = domain.incident_deadline_near(tenant_id, self._region, incident_id, due_at, now,
                                                      threshold=threshold)
            else:
                maker = domain.request_due_soon if kind == domain.REQUEST_DUE_SOON else domain.request_overdue
                event = maker(tenant_id, self._region, subject_id, due_at, now, threshold=threshold)
            sent = self._send(tenant, [event]) and sent
        return sent

    def _now(self) -> str:
        return format_at(self._clock())

    def _send(self, tenant: Tenant, events: Iterable[DomainEvent]) -> bool:
        try:
            self._events.publish(tenant.jurisdiction, tenant.tenant_id, list(events))
        except (EnclaveError, ClientError):
            self._on_failure()
            logger.exception("publishing an event failed", extra={"tenant_id": tenant.tenant_id})
            return False
        return True
