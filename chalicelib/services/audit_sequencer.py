"""The audit sequencer: turns a DynamoDB stream batch of landed (pending) events into sealed chain events.

Lambda calls it with the audit table's stream records (``on_dynamodb_record``); locally
devtools/stream_poller.py does. It only learns *which tenants* have pending events from the batch and
then seals them through the same code as seal-now (``AuditStore.seal``), so a batch delivered twice,
or a tenant already sealed on demand, changes nothing.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from chalicelib.adapters.audit_store import PENDING_PREFIX, AuditStore


def tenants_in(records: Iterable[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """(tenant_id, jurisdiction) of every INSERT of a pending event in ``records`` (Lambda's shape), in order."""
    found: dict[tuple[str, str], None] = {}
    for record in records:
        if record.get("eventName") != "INSERT":
            continue
        image = record.get("dynamodb", {}).get("NewImage", {})
        sk = image.get("sk", {}).get("S", "")
        tenant = image.get("tenant_id", {}).get("S")
        jurisdiction = image.get("jurisdiction", {}).get("S")
        if sk.startswith(PENDING_PREFIX) and tenant and jurisdiction:
            found[(tenant, jurisdiction)] = None
    return list(found)


class Sequencer:
    """Seals, per tenant named in a stream batch, everything pending for it."""

    def __init__(self, store: AuditStore) -> None:
        self._store = store

    def handle(self, event: Mapping[str, Any]) -> int:
        """Handle one Lambda DynamoDB-stream event (``{"Records": [...]}``); return how many events were sealed."""
        pairs = tenants_in(event.get("Records", []))
        return sum(self._store.seal(tenant, jurisdiction) for tenant, jurisdiction in pairs)
