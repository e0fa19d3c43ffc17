"""Sends queued webhook deliveries that are due, signed, and retries or parks the ones that fail.

Run every minute by the schedule (``webhook_dispatch`` in app.py) over the tenants of this region that
have endpoints. An attempt posts the event's body with the Standard Webhooks headers (the delivery id as
``webhook-id``, the same on every attempt, so a receiver drops a repeat). A 2xx marks it delivered; any
other answer or a network error reschedules it (``next_attempt``: exponential, for 24 hours after the
first attempt) or parks it in the dead-letter list. Each move is one conditional transaction, so two
dispatchers never both deliver an attempt's outcome (a lost race is a no-op); a crash between a
successful post and its record may send that delivery once more, with the same ``webhook-id``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from chalicelib.adapters.webhook_http import Transport
from chalicelib.adapters.webhook_store import WebhookStore
from chalicelib.domain.audit import format_at
from chalicelib.domain.webhooks import Delivery, Endpoint, SecretSealer, next_attempt, signed_headers

logger = logging.getLogger(__name__)

MAX_ATTEMPTS_PER_TENANT = 100
"""Attempts one run makes for a tenant at most (the rest are still due at the next run)."""


def endpoint_of(item: dict[str, Any], tenant_id: str, sealer: SecretSealer) -> Endpoint:
    """The stored endpoint with its secrets opened (in memory only)."""
    return Endpoint(webhook_id=item["webhook_id"], tenant_id=tenant_id, url=item["url"],
                    event_types=tuple(item["event_types"]), created_at=item["created_at"],
                    rotated_at=item.get("rotated_at"), previous_until=item.get("previous_until"),
                    secrets=tuple(sealer.open(tenant_id, item["webhook_id"], s) for s in item["secrets"]))


class WebhookDispatcher:
    """Attempts the due deliveries of the tenants of one jurisdiction's table."""

    def __init__(self, store: WebhookStore, sealer: SecretSealer, transport: Transport,
                 clock: Callable[[], datetime], jurisdiction: str) -> None:
        self._store = store
        self._sealer = sealer
        self._transport = transport
        self._clock = clock
        self._jurisdiction = jurisdiction

    def run(self) -> dict[str, int]:
        """One pass over every tenant with endpoints; counts of outcomes."""
        totals = {"delivered": 0, "retrying": 0, "parked": 0}
        for tenant_id in self._store.tenants_with_endpoints(self._jurisdiction):
            for outcome, count in self.run_tenant(tenant_id).items():
                totals[outcome] += count
        return totals

    def run_tenant(self, tenant_id: str) -> dict[str, int]:
        """Attempt the tenant's due deliveries (each at most once in this run)."""
        counts = {"delivered": 0, "retrying": 0, "parked": 0}
        endpoints: dict[str, Endpoint | None] = {}
        tried: set[str] = set()
        while len(tried) < MAX_ATTEMPTS_PER_TENANT:
            now = self._clock()
            due = [d for d in self._store.due(self._jurisdiction, tenant_id, format_at(now))
                   if d.delivery_id not in tried]
            if not due:
                break
            for delivery in due:
                tried.add(delivery.delivery_id)
                if delivery.webhook_id not in endpoints:
                    item = self._store.endpoint(self._jurisdiction, tenant_id, delivery.webhook_id)
                    endpoints[delivery.webhook_id] = endpoint_of(item, tenant_id, self._sealer) if item else None
                outcome = self._attempt(tenant_id, endpoints[delivery.webhook_id], delivery)
                counts[outcome] += 1
        return counts

    def _attempt(self, tenant_id: str, endpoint: Endpoint | None, delivery: Delivery) -> str:
        now = self._clock()
        at = format_at(now)
        first = delivery.first_attempt_at or at
        if endpoint is None:  # deleted since: nothing to send to, kept visible as a dead letter
            parked = replace(delivery, due_at=at, first_attempt_at=first, last_status="endpoint_deleted")
            self._store.park(self._jurisdiction, tenant_id, delivery, parked)
            return "parked"
        body = delivery.body.encode()
        status = self._transport.post(endpoint.url, body, signed_headers(endpoint.signing_secrets(now),
                                                                         delivery.delivery_id, now, body))
        if status.isdigit() and 200 <= int(status) < 300:
            self._store.delivered(self._jurisdiction, tenant_id, delivery)
            return "delivered"
        attempts = delivery.attempts + 1
        again = next_attempt(datetime.fromisoformat(first), attempts, now)
        tried = replace(delivery, attempts=attempts, first_attempt_at=first, last_status=status)
        logger.warning("a webhook attempt failed", extra={"tenant_id": tenant_id, "webhook_id": endpoint.webhook_id,
                                                          "delivery_id": delivery.delivery_id, "status": status})
        if again is None:
            self._store.park(self._jurisdiction, tenant_id, delivery, replace(tried, due_at=at))
            return "parked"
        self._store.reschedule(self._jurisdiction, tenant_id, delivery, replace(tried, due_at=format_at(again)))
        return "retrying"
