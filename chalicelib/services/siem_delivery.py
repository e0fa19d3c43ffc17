"""Delivery of a tenant's sealed audit events to the OCSF stream, exactly once per seq, in seq order.

The audit sequencer calls ``after_batch`` for every tenant a stream batch names, once it has sealed what
landed. While the tenant's stream is switched on, delivery reads the chain from the cursor on (by key,
100 seqs a look-up), claims the run (a conditional update of the cursor), writes its objects (each only
if absent) and moves the cursor to the run's end (conditional on the claim). So:

- a redelivered stream batch finds the cursor past its events: it writes nothing;
- a delivery that died after its claim is redone by the next one with the same run, hence the same keys,
  which the bucket refuses where they exist: no seq is written twice, none is skipped;
- two sequencers on one tenant: one claim wins; the other stops (or redoes the same run, refused).

Switching the stream off stops delivery at the next batch; switching it on resumes from the cursor, so
events sealed while it was off are back-filled, in order, before newer ones (``MAX_EVENTS`` per call,
the rest with the tenant's next batch). A failed delivery never fails the sequencer's batch: it is logged
(identifiers only) and counted (``Enclave/SiemDeliveryFailures``), and the next batch resumes from the cursor.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.adapters.audit_markers import AuditMarkers
from chalicelib.adapters.siem_bucket import SiemBucket
from chalicelib.adapters.siem_cursor import SiemCursors
from chalicelib.domain.errors import EnclaveError, ServiceUnavailable
from chalicelib.domain.ocsf import stream_objects

logger = logging.getLogger(__name__)

LOOKUP = 100
"""Seqs one look-up of the chain asks for (BatchGetItem's limit)."""
RUN = 1000
"""Seqs one claim covers at most."""
MAX_EVENTS = 10_000
"""Seqs one call delivers at most (a back-fill of a long trail goes on with the tenant's next batches)."""


def delivery_failed() -> None:
    """Count a delivery that failed (EMF metric ``Enclave/SiemDeliveryFailures``)."""
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    with single_metric(name="SiemDeliveryFailures", unit=MetricUnit.Count, value=1, namespace="Enclave") as metric:
        metric.add_dimension(name="service", value="enclave")


class SiemDelivery:
    """Writes tenants' sealed events to the OCSF stream from their delivery cursor on."""

    def __init__(self, cursors: SiemCursors, chain: AuditMarkers, bucket: SiemBucket, region: str, account_id: str,
                 on_failure: Callable[[], None] = delivery_failed, run: int = RUN,
                 max_events: int = MAX_EVENTS) -> None:
        self._cursors = cursors
        self._chain = chain
        self._bucket = bucket
        self._region = region
        self._account_id = account_id
        self._on_failure = on_failure
        self._run = run
        self._max_events = max_events

    def after_batch(self, tenant_id: str, jurisdiction: str) -> int:
        """The sequencer's hook: ``deliver``, never raising (a failure is logged, counted, retried later)."""
        try:
            return self.deliver(tenant_id, jurisdiction)
        except (EnclaveError, ClientError):
            self._on_failure()
            logger.exception("the SIEM stream delivery failed; the next batch resumes from the cursor",
                             extra={"tenant_id": tenant_id})
            return 0

    def deliver(self, tenant_id: str, jurisdiction: str) -> int:
        """Deliver what the chain holds past the tenant's cursor, if its stream is on; how many events."""
        state = self._cursors.state(jurisdiction, tenant_id)
        if not state.enabled:
            return 0
        delivered, claim_to, total = state.delivered, state.claim_to, 0
        while total < self._max_events:
            if claim_to is None:
                events = self._read(tenant_id, jurisdiction, delivered + 1, self._run)
                if not events:
                    break
                claim_to = int(events[-1]["seq"])
                if not self._cursors.claim(jurisdiction, tenant_id, delivered, claim_to):
                    break  # another sequencer moved the cursor: it carries on from there
            else:  # a claim left by a delivery that stopped: redo exactly that run
                events = self._read(tenant_id, jurisdiction, delivered + 1, claim_to - delivered)
                if len(events) != claim_to - delivered:
                    raise ServiceUnavailable("a claimed run of the stream is not whole in the chain yet")
            for stream_object in stream_objects(events, self._region, self._account_id):
                self._bucket.put_once(stream_object.key, stream_object.body)
            if not self._cursors.advance(jurisdiction, tenant_id, claim_to):
                break  # another sequencer finished this run
            total += len(events)
            delivered, claim_to = claim_to, None
        return total

    def _read(self, tenant_id: str, jurisdiction: str, first: int, count: int) -> list[dict[str, Any]]:
        """The chain's events ``first`` .. ``first + count - 1``, stopping at the head."""
        events: list[dict[str, Any]] = []
        while len(events) < count:
            seqs = list(range(first + len(events), first + min(count, len(events) + LOOKUP)))
            found = self._chain.chained(tenant_id, jurisdiction, seqs)
            for seq in seqs:
                if seq not in found:
                    return events
                events.append(found[seq])
        return events

