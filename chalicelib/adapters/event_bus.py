"""The region's EventBridge bus: domain events as ``PutEvents`` entries (``source`` enclave, detail-type = type).

A call sends up to 10 entries (the API's limit) per request. An entry the bus refuses, a throttle or an
outage raises ``ServiceUnavailable``: the caller has not moved its cursor, so the same events (same
``event_id``) go again later, and consumers drop repeats by ``event_id``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from chalicelib.adapters.dynamo_errors import translated
from chalicelib.domain.errors import ServiceUnavailable
from chalicelib.domain.events import SOURCE, DomainEvent

ENTRIES_PER_CALL = 10


class EventBus:
    """Publishes domain events to one bus (an ``EventPublisher``)."""

    def __init__(self, client: Any, bus_name: str) -> None:
        self._client = client
        self.bus_name = bus_name

    def publish(self, events: Iterable[DomainEvent]) -> None:
        entries = [self._entry(event) for event in events]
        for start in range(0, len(entries), ENTRIES_PER_CALL):
            with translated("the event bus"):
                response = self._client.put_events(Entries=entries[start:start + ENTRIES_PER_CALL])
            if response.get("FailedEntryCount", 0):
                codes = sorted({str(e.get("ErrorCode")) for e in response.get("Entries", []) if e.get("ErrorCode")})
                raise ServiceUnavailable(f"the event bus refused {response['FailedEntryCount']} events ({codes})")

    def _entry(self, event: DomainEvent) -> dict[str, Any]:
        return {"EventBusName": self.bus_name, "Source": SOURCE, "DetailType": event.event_type,
                "Detail": json.dumps(event.detail(), separators=(",", ":"), sort_keys=True),
                "Resources": [f"tenant/{event.tenant_id}"]}
