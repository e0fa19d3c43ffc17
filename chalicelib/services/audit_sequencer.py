"""The audit sequencer: turns a DynamoDB stream batch of landed (pending) events into sealed chain events.

Lambda calls it with the audit table's stream records (``on_dynamodb_record`` in app.py); locally
devtools/stream_poller.py does. For each tenant named in the batch it seals everything pending through
the same code as seal-now (``AuditStore.seal``), so a batch delivered twice, or a tenant already sealed
on demand, changes nothing.

It then checks the batch against the table: every event a stream record says landed must now be
sealed. A pending item that is gone (deleted by someone with write access to the table between landing
and sealing; the app's role cannot delete audit items) is the one tampering the chain cannot show by
itself, since it was never chained. The stream record is the evidence: the sequencer counts
``AuditEventsMissing`` (alarmed on), logs it and chains an ``audit.event_missing`` event naming the lost
event's id, action, resource and request id (identifiers only, as every event), once per lost event.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chalicelib.adapters.audit_store import PENDING_PREFIX, AuditStore
from chalicelib.domain.audit import AuditEventDraft
from chalicelib.domain.audit_pending import missing_marker_id

logger = logging.getLogger(__name__)

SEQUENCER_SUB = "system:audit-sequencer"
MISSING_ACTION = "audit.event_missing"


@dataclass
class Landed:
    """What one tenant's stream records in a batch say landed: event ids and their pending images."""

    events: dict[str, Mapping[str, Any]] = field(default_factory=dict)


def landed_in(records: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], Landed]:
    """(tenant_id, jurisdiction) -> the pending events INSERTed by ``records`` (Lambda's shape), in order."""
    found: dict[tuple[str, str], Landed] = {}
    for record in records:
        if record.get("eventName") != "INSERT":
            continue
        image = record.get("dynamodb", {}).get("NewImage", {})
        sk = image.get("sk", {}).get("S", "")
        tenant = image.get("tenant_id", {}).get("S")
        jurisdiction = image.get("jurisdiction", {}).get("S")
        if sk.startswith(PENDING_PREFIX) and tenant and jurisdiction:
            try:
                pending = json.loads(image.get("pending", {}).get("S", "{}"))
            except ValueError:
                pending = {}
            found.setdefault((tenant, jurisdiction), Landed()).events[sk[len(PENDING_PREFIX):]] = pending
    return found


def tenants_in(records: Iterable[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """(tenant_id, jurisdiction) of every INSERT of a pending event in ``records``, in order."""
    return list(landed_in(records))


def missing_metric() -> None:
    """Count a pending event that vanished before sealing (EMF metric ``Enclave/AuditEventsMissing``)."""
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    with single_metric(name="AuditEventsMissing", unit=MetricUnit.Count, value=1, namespace="Enclave") as metric:
        metric.add_dimension(name="service", value="enclave")


class Sequencer:
    """Seals, per tenant named in a stream batch, everything pending for it; detects dropped events."""

    def __init__(self, store: AuditStore, on_missing: Callable[[], None] = missing_metric) -> None:
        self._store = store
        self._on_missing = on_missing

    def handle(self, event: Mapping[str, Any]) -> int:
        """Handle one Lambda DynamoDB-stream event (``{"Records": [...]}``); return how many events were sealed."""
        sealed = 0
        for (tenant, jurisdiction), landed in landed_in(event.get("Records", [])).items():
            sealed += self._store.seal(tenant, jurisdiction)
            sealed += self._check(tenant, jurisdiction, landed)
        return sealed

    def _check(self, tenant: str, jurisdiction: str, landed: Landed) -> int:
        """Seal stragglers the scan did not reach; record every landed event whose item is gone."""
        states = self._store.unsealed(tenant, jurisdiction, list(landed.events))
        late = [event_id for event_id, pending in states.items() if pending]
        gone = [event_id for event_id in landed.events if event_id not in states]
        recorded = self._store.unsealed(tenant, jurisdiction, [missing_marker_id(e) for e in gone])
        lost = [event_id for event_id in gone if missing_marker_id(event_id) not in recorded]
        for event_id in lost:
            self._on_missing()
            logger.error("a pending audit event vanished before sealing",
                         extra={"tenant_id": tenant, "event_id": event_id})
            late.append(self._store.land_missing(tenant, jurisdiction, event_id,
                                                 self._missing_draft(event_id, landed.events[event_id])))
        return self._store.seal(tenant, jurisdiction, named=late) if late else 0

    @staticmethod
    def _missing_draft(event_id: str, pending: Mapping[str, Any]) -> AuditEventDraft:
        actor = pending.get("actor") if isinstance(pending.get("actor"), Mapping) else {}
        details = {"event_id": event_id, "action": str(pending.get("action", "")),
                   "at": str(pending.get("at", "")), "actor_sub": str(actor.get("sub", "")) if actor else ""}
        return AuditEventDraft(actor_sub=SEQUENCER_SUB, actor_role="system", action=MISSING_ACTION,
                               resource=str(pending.get("resource", "audit")) or "audit", outcome="detected",
                               request_id=str(pending.get("request_id", event_id)), details=details)
