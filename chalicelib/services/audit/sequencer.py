"""The audit sequencer: turns a DynamoDB stream batch of landed (pending) events into sealed chain events.

Lambda calls it with the audit table's stream records (``on_dynamodb_record`` in app.py); locally
devtools/stream_poller.py does. For each tenant named in the batch it seals everything pending through
the same code as seal-now (``AuditStore.seal``), so a batch delivered twice, or a tenant already sealed
on demand, changes nothing.

It also checks the batch against the table, for the tampering the chain cannot show by itself because
it happened before an event was chained (or to the markers that keep an event from being chained twice).
The stream record is the evidence; nobody can edit it. For each finding it counts a metric (alarmed on),
logs identifiers and chains an event naming the event id (identifiers only, as every event), once per
finding even when Lambda redelivers the batch:
- every event a stream record says landed must now be sealed; a pending item that is gone (deleted by
  someone with write access to the table; the app's role cannot delete audit items) is recorded as
  ``audit.event_missing`` (``AuditEventsMissing``), or as ``pending_removed`` when the batch holds the
  deletion;
- a ``PND#`` item changed other than by the sealer (``domain/audit/stream.py``) is recorded as
  ``audit.event_altered`` (``AuditEventsAltered``); an event put again over its sealed marker is marked
  sealed where it was chained, so it is not chained twice;
- what is chained for an event id is the image that first landed for it (the batch's first INSERT), never
  a later one; the seal's transaction records its digest (``LND#``, put only if absent), so an event id is
  chained once by construction; a later batch's image of an event id that differs from that record
  (deleted and put back in another batch, or chained by a read before the stream came) is
  ``pending_replaced``; a landed record deleted or changed is recorded too (a deleted one is put back);
- a change shaped like the sealer's must have chained that very event at its ``sealed_seq``: a faked seal
  (the event dropped unchained) or another event in its place is recorded the same way.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from chalicelib.adapters.audit_markers import Landed
from chalicelib.adapters.audit_store import AuditStore
from chalicelib.domain.audit import AuditEventDraft
from chalicelib.domain.audit.pending import altered_marker_id, landed_digest, missing_marker_id
from chalicelib.domain.audit.stream import (
    PENDING_REMOVED,
    PENDING_REPLACED,
    Alteration,
    Sealing,
    TenantBatch,
    changed_fields,
    read_batch,
    unchained,
)

logger = logging.getLogger(__name__)

SEQUENCER_SUB = "system:audit-sequencer"
MISSING_ACTION = "audit.event_missing"
ALTERED_ACTION = "audit.event_altered"


def _count(name: str) -> None:
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    with single_metric(name=name, unit=MetricUnit.Count, value=1, namespace="Enclave") as metric:
        metric.add_dimension(name="service", value="enclave")


def missing_metric() -> None:
    """Count a pending event that vanished before sealing (EMF metric ``Enclave/AuditEventsMissing``)."""
    _count("AuditEventsMissing")


def altered_metric() -> None:
    """Count a pending item changed by someone other than the sealer (``Enclave/AuditEventsAltered``)."""
    _count("AuditEventsAltered")


class Sequencer:
    """Seals, per tenant named in a stream batch, everything pending for it; detects dropped and altered events."""

    def __init__(self, store: AuditStore, on_missing: Callable[[], None] = missing_metric,
                 on_altered: Callable[[], None] = altered_metric,
                 after_tenant: Callable[[str, str], object] | None = None) -> None:
        """``after_tenant(tenant_id, jurisdiction)``: once per tenant of a batch, once sealed (the SIEM stream)."""
        self._store = store
        self._after_tenant = after_tenant
        self._on_missing = on_missing
        self._on_altered = on_altered

    def handle(self, event: Mapping[str, Any]) -> int:
        """Handle one Lambda DynamoDB-stream event (``{"Records": [...]}``); return how many events were sealed."""
        sealed = 0
        for (tenant, jurisdiction), batch in read_batch(event.get("Records", [])).items():
            late = self._altered(tenant, jurisdiction, batch.altered)  # before sealing: nothing chained twice
            images = batch.landed  # what first landed is what is chained, whatever the marker holds now
            if batch.altered:  # findings are landed: one scan chains them in event-id order with the rest
                sealed += self._store.seal(tenant, jurisdiction, images=images)
            elif batch.landed:  # by key, no scan of the window (a batch of the sealer's own changes names none)
                sealed += self._store.seal(tenant, jurisdiction, named=list(batch.landed), scan=False, images=images)
            late += self._missing(tenant, jurisdiction, batch)
            late += self._altered(tenant, jurisdiction, self._unchained(tenant, jurisdiction, batch.sealed))
            sealed += self._store.seal(tenant, jurisdiction, named=late, images=images) if late else 0
            if self._after_tenant is not None:
                self._after_tenant(tenant, jurisdiction)
        return sealed

    def _missing(self, tenant: str, jurisdiction: str, batch: TenantBatch) -> list[str]:
        """Stragglers the scan did not reach, and the records of landed events whose item is gone (to seal);
        an item gone after the batch shows it sealed is an alteration (``_altered``), not a loss. Each landed
        event this container did not just chain itself is checked against its landed record."""
        landed = batch.landed
        states = self._store.markers.unsealed(tenant, jurisdiction, list(landed))
        digests = {event_id: landed_digest(image) for event_id, image in landed.items()}
        # marked sealed and not by this container: whoever sealed it wrote its landed record, and any other
        # image of it comes with its own stream record (an alteration); still pending or gone: look it up
        check = [e for e in landed
                 if states.get(e) is not False and not self._store.chained_here(tenant, e, digests[e])]
        records = self._store.markers.landed(tenant, jurisdiction, check) if check else {}
        late = [e for e, pending in states.items() if pending and e not in records]
        late += self._replaced(tenant, jurisdiction, batch, states, records)
        removed = self._settle_removed(tenant, jurisdiction, batch)
        gone = [event_id for event_id in landed if event_id not in states and event_id not in batch.sealed
                and event_id not in removed and event_id in check and event_id not in records]
        recorded = self._store.markers.unsealed(tenant, jurisdiction, [missing_marker_id(e) for e in gone])
        for event_id in gone:
            self._store.markers.settle(tenant, jurisdiction, event_id, landed_digest(landed[event_id]))
            if missing_marker_id(event_id) in recorded:
                continue
            self._on_missing()
            logger.error("a pending audit event vanished before sealing",
                         extra={"tenant_id": tenant, "event_id": event_id})
            late.append(self._store.land_finding(tenant, jurisdiction, missing_marker_id(event_id),
                                                 self._missing_draft(event_id, landed[event_id])))
        return late

    def _settle_removed(self, tenant: str, jurisdiction: str, batch: TenantBatch) -> set[str]:
        """The event ids whose pending item the batch shows deleted: reported (``pending_removed``), never to
        be chained, so their landed record is put without ``seq`` (a later image of them is refused)."""
        removed = {a.event_id: a.before for a in batch.altered if a.change == PENDING_REMOVED}
        for event_id, before in removed.items():
            first = batch.landed.get(event_id) or before
            self._store.markers.settle(tenant, jurisdiction, event_id, landed_digest(first))
        return set(removed)

    def _replaced(self, tenant: str, jurisdiction: str, batch: TenantBatch, states: Mapping[str, bool],
                  records: Mapping[str, Landed]) -> list[str]:
        """Landed events whose id is already chained or reported (``records``): one put back pending is marked
        sealed again where it was chained; a record of another image than the batch's first is a finding."""
        found = []
        altered = {a.event_id for a in batch.altered}
        for event_id, record in records.items():
            if record.digest == landed_digest(batch.landed[event_id]) or event_id in altered:
                if states.get(event_id) and record.seq is not None:  # the same event put back: sealed again
                    self._store.markers.restore_sealed(tenant, jurisdiction, event_id, record.seq)
                continue
            found.append(Alteration(
                event_id=event_id, record_id=batch.first_records[event_id], change=PENDING_REPLACED,
                before={}, fields=(), sealed_seq=record.seq, now_pending=bool(states.get(event_id))))
        return self._altered(tenant, jurisdiction, self._with_fields(tenant, jurisdiction, batch, found))

    def _with_fields(self, tenant: str, jurisdiction: str, batch: TenantBatch,
                     found: list[Alteration]) -> list[Alteration]:
        """``found`` with the chained event as ``before`` and the names of the fields the batch's image changed."""
        seqs = sorted({a.sealed_seq for a in found if a.sealed_seq is not None})
        chained = self._store.markers.chained(tenant, jurisdiction, seqs) if seqs else {}
        result = []
        for alteration in found:
            event = chained.get(alteration.sealed_seq) if alteration.sealed_seq is not None else None
            before = {k: v for k, v in (event or {}).items() if k not in ("seq", "prev_hash", "hash")}
            result.append(replace(alteration, before=before,
                                  fields=changed_fields(before, batch.landed[alteration.event_id])))
        return result

    def _unchained(self, tenant: str, jurisdiction: str, sealed: Mapping[str, Sealing]) -> list[Alteration]:
        """Seals the batch shows whose event the chain does not hold at their ``sealed_seq`` (one look-up per
        100), leaving out events already recorded as altered (a restored marker shows what was put over it).
        A seal this container committed itself (the store remembers its recent ones) is not read back."""
        sealed = {event_id: sealing for event_id, sealing in sealed.items()
                  if self._store.sealed_here(tenant, event_id) != sealing.seq}
        if not sealed:
            return []
        chained = self._store.markers.chained(tenant, jurisdiction, sorted({s.seq for s in sealed.values()}))
        found = [a for event_id, sealing in sealed.items()
                 if (a := unchained(event_id, sealing, chained.get(sealing.seq))) is not None]
        return [a for a in found if not self._store.markers.findings_about(tenant, jurisdiction, a.event_id)]

    def _altered(self, tenant: str, jurisdiction: str, altered: list[Alteration]) -> list[str]:
        """Record each alteration once; put an event put again over its sealed marker back as sealed."""
        markers = {altered_marker_id(a.event_id, a.record_id): a for a in altered}
        recorded = self._store.markers.unsealed(tenant, jurisdiction, list(markers)) if markers else {}
        late = []
        for marker, alteration in markers.items():
            if alteration.landed_record is not None:  # put back: the event id stays chained (or reported)
                self._store.markers.settle(tenant, jurisdiction, alteration.event_id, *alteration.landed_record)
            if alteration.sealed_seq is not None and alteration.now_pending:
                self._store.markers.restore_sealed(tenant, jurisdiction, alteration.event_id, alteration.sealed_seq)
            if marker in recorded:
                continue
            self._on_altered()
            logger.error("an audit event was altered outside the sequencer",
                         extra={"tenant_id": tenant, "event_id": alteration.event_id, "change": alteration.change})
            late.append(self._store.land_finding(tenant, jurisdiction, marker, self._altered_draft(alteration)))
        return late

    @staticmethod
    def _missing_draft(event_id: str, pending: Mapping[str, Any]) -> AuditEventDraft:
        actor = pending.get("actor") if isinstance(pending.get("actor"), Mapping) else {}
        details = {"event_id": event_id, "action": str(pending.get("action", "")),
                   "at": str(pending.get("at", "")), "actor_sub": str(actor.get("sub", "")) if actor else ""}
        return _finding(MISSING_ACTION, event_id, pending, details)

    @staticmethod
    def _altered_draft(alteration: Alteration) -> AuditEventDraft:
        details: dict[str, Any] = {"event_id": alteration.event_id, "change": alteration.change,
                                   "fields": list(alteration.fields)}
        if alteration.sealed_seq is not None:
            details["sealed_seq"] = alteration.sealed_seq
        return _finding(ALTERED_ACTION, alteration.event_id, alteration.before, details)


def _finding(action: str, event_id: str, before: Mapping[str, Any], details: Mapping[str, Any]) -> AuditEventDraft:
    """The sequencer's event about ``event_id``: its resource and request id as the event landed, if known."""
    return AuditEventDraft(actor_sub=SEQUENCER_SUB, actor_role="system", action=action,
                           resource=str(before.get("resource", "audit")) or "audit", outcome="detected",
                           request_id=str(before.get("request_id", event_id)), details=details)
