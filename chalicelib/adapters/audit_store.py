"""The audit trail's storage: a hash chain per tenant, appended in the same transaction as the change.

Items of the jurisdiction's audit table, spread over partition keys by ``domain/audit/layout.py`` (the head,
checkpoints and tree under ``TENANT#<id>``; sealed events under event shards by ``seq`` block; pending
markers and landed records under marker shards by event id; docs/audit-partitions.md):
- ``HEAD``: the chain's last ``seq`` and ``hash``; every append is conditional on it, so concurrent
  writers never fork the chain or lose an event (a lost race re-reads the head and retries).
- ``EVT#<seq>``: one event, stored as the exact JSON that is exported (``event``), plus ``tenant_id``
  and ``at`` for the time index (the chain's high-water mark of ``at`` and the ``seq``: ``adapters/
  audit_time_index.py``); ``LAT#<at>#<seq>``: an event stamped well below that mark (found by time too).
- ``PND#<event_id>``: an event as it landed, unsequenced (``pending``), until the sealer chains it and
  marks it sealed (``sealed_seq``); markers stay (append-only). Look-ups by key: ``audit_markers.py``.
- ``LND#<event_id>``: put (only if absent) in the transaction that chains the event: no event id is
  chained twice, whatever is done to its ``PND#`` marker (``audit_markers.py``).
- ``CKP#<seq>``: a signed checkpoint of the head at that event.
- ``MTN#...``, ``STH#...``: the Merkle tree's nodes and signed tree heads (``adapters/tree_store.py``).
- ``ACT#<day>`` (hour counts, in the seal transaction) and ``ACX#<action>#<chunk>`` (the blocks holding an
  action's events, just before it): the console's summaries (``audit_summaries.py``, ``audit_action_index.py``).

``commit`` lands the event (``PND#``) and the caller's data changes in one TransactWriteItems: no change
without its event, no event without its change; ``seal`` chains what landed (``EVT#`` + ``HEAD``).
"""

from __future__ import annotations

import heapq
import itertools
import json
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import ClientError

from chalicelib.adapters.audit_action_index import AuditActionIndex
from chalicelib.adapters.audit_markers import (
    MAX_ATTEMPTS,
    PENDING,
    AuditMarkers,
    is_pending,
    landed_put,
    refused_landed,
)
from chalicelib.adapters.audit_shards import HEAD, ChainShards, event_sk
from chalicelib.adapters.audit_summaries import count_updates, head_summary
from chalicelib.adapters.audit_time_index import AuditTimeIndex
from chalicelib.adapters.dynamo_errors import error_code, translated
from chalicelib.domain.audit import GENESIS_HASH, AuditEventDraft
from chalicelib.domain.audit.layout import SHARDED, AuditLayout, tenant_pk
from chalicelib.domain.audit.pending import landed_before, landed_digest, pending_event, sequenced
from chalicelib.domain.audit.stream import PENDING_PREFIX
from chalicelib.domain.audit.summaries import within_days
from chalicelib.domain.audit.time_range import file_events
from chalicelib.domain.cache import TtlCache
from chalicelib.domain.errors import ServiceUnavailable, Throttled

__all__ = ["HEAD", "MAX_ATTEMPTS", "AuditStore", "ChangeRejected", "event_sk", "tenant_pk"]

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import PutTypeDef, TransactWriteItemTypeDef

SEAL_BATCH = 24  # 3 items per event + the head, room for a 4th (the time index's): within 100 a transaction
SEALED_HERE_ENTRIES = 50_000  # about 5 MB: a few minutes of one busy sequencer's seals
SEALED_HERE_SECONDS = 900.0  # the stream shows a seal within seconds; a record older than this is read
SCAN_PAGE = 1000
"""Markers one page of the pending scan reads. ``Limit`` counts items read before the filter, and most
markers in the window are sealed ones (about 120 bytes): a page of 25 took ~20 round trips for a few
pending events. A page is also capped at 1 MB by DynamoDB, and the pass holds one page at a time."""
PENDING_WINDOW = timedelta(minutes=5)
"""How long before the newest sealed event a pending one may have landed and still be found by the scan:
well above a request's lifetime (Lambda timeout 30 s) plus clock skew. Older stragglers are sealed by
name when their stream record arrives (``seal(..., named=...)``), so the scan reads only recent markers
and does not grow with the trail's history."""
_CANCELLED_BY_THROTTLING = frozenset({"ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"})


def real_now() -> datetime:
    return datetime.now(UTC)


def backoff_delay(attempt: int) -> float:
    """Full-jitter exponential backoff (1 ms base, 50 ms cap), so racing writers do not retry in step."""
    return random.uniform(0, min(0.05, 0.001 * 2 ** min(attempt, 6)))  # noqa: S311 - not cryptographic


def jittered_backoff(attempt: int) -> None:
    """Wait ``backoff_delay(attempt)`` seconds."""
    time.sleep(backoff_delay(attempt))


def audit_write_failed() -> None:
    """Count a failed audit append (CloudWatch EMF metric ``Enclave/AuditWriteFailures``, alarmed on)."""
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    with single_metric(name="AuditWriteFailures", unit=MetricUnit.Count, value=1, namespace="Enclave") as metric:
        metric.add_dimension(name="service", value="enclave")


class ChangeRejected(Exception):
    """A condition of one of the caller's changes failed; nothing was written."""

    def __init__(self, index: int, code: str) -> None:
        super().__init__(f"change {index} rejected: {code}")
        self.index = index
        self.code = code


class ScanTickets:
    """Which seal-on-read passes of a tenant began after a given moment and completed, in this process.

    A pass finds every event landed before it began; so a read whose seal waited for the tenant's lock while
    a pass that began after the read asked ran to its end has nothing left to seal of what landed before it
    (reads of one screen arriving together share one pass, not one each, one after the other)."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._begun: dict[str, int] = {}
        self._completed: dict[str, int] = {}

    def asked(self, tenant_id: str) -> int:
        """The number of passes begun so far: a pass numbered above it begins after this call."""
        with self._guard:
            return self._begun.get(tenant_id, 0)

    def covered(self, tenant_id: str, asked: int) -> bool:
        """Whether a pass begun after ``asked`` completed."""
        with self._guard:
            return self._completed.get(tenant_id, 0) > asked

    def begin(self, tenant_id: str) -> int:
        with self._guard:
            number = self._begun[tenant_id] = self._begun.get(tenant_id, 0) + 1
            return number

    def done(self, tenant_id: str, number: int) -> None:
        with self._guard:
            self._completed[tenant_id] = max(self._completed.get(tenant_id, 0), number)


class AuditStore:
    """Appends events to per-tenant hash chains and reads them back in order."""

    def __init__(self, client: DynamoDBClient, table_for: Callable[[str], str], region: str,
                 clock: Callable[[], datetime],
                 after_commit: Callable[[str, dict[str, Any]], None] | None = None,
                 backoff: Callable[[int], None] | None = None,
                 after_seal: Callable[[str, str, int, int], None] | None = None,
                 landing_clock: Callable[[], datetime] = real_now, layout: AuditLayout = SHARDED) -> None:
        """``after_commit(jurisdiction, event)`` runs after each sealed event (periodic checkpoints);
        ``after_seal(tenant_id, jurisdiction, size, sealed)`` once after a seal call that sealed events;
        ``backoff(attempt)`` waits before retrying a lost race (default: full jitter, capped);
        ``landing_clock`` orders landed events (``event_id``): the real clock, whatever ``clock`` says;
        ``layout``: where items go (``LEGACY`` writes a trail as before the sharded layout: tests, benchmarks)."""
        self._landing_clock = landing_clock
        self._after_commit = after_commit
        self._after_seal = after_seal
        self._backoff = backoff or jittered_backoff
        self._client = client
        self._table_for = table_for
        self._region = region
        self._clock = clock
        self._heads: dict[str, tuple[int, str]] = {}
        self._marks: dict[str, str] = {}  # tenant -> newest event_id sealed (HEAD.last_event_id)
        # tenant -> the largest ``at`` chained (HEAD.at_high), loaded with the head; None: a head from before
        # the mark was kept, looked up in the index when this store next seals for the tenant
        self._high: dict[str, str | None] = {}
        self._shards = ChainShards(client, layout)
        self._layout = layout
        self._time_index = AuditTimeIndex(client, self._shards)
        # (tenant, event_id) -> the seq this store chained it at and the digest of what it chained, in a
        # transaction it saw commit
        self._sealed_here: TtlCache[tuple[str, str], tuple[int, str]] = TtlCache(SEALED_HERE_ENTRIES,
                                                                                  SEALED_HERE_SECONDS)
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._scans = ScanTickets()
        self.markers = AuditMarkers(client, table_for, self._backoff, self._shards)
        self.actions = AuditActionIndex(client)
        """Look-ups by key and the one repair the sequencer's checks need."""

    def commit(self, tenant_id: str, jurisdiction: str, draft: AuditEventDraft,
               changes: Sequence[TransactWriteItemTypeDef] = ()) -> dict[str, Any]:
        """Land ``draft`` unsequenced together with ``changes`` (one TransactWriteItems; a plain PutItem
        when there are no changes, as for a read); return the pending event (no ``seq`` yet).

        No per-tenant item is read or updated: the sequencer (``seal``) chains the event later."""
        table = self._table_for(jurisdiction)
        pending = pending_event(draft, tenant_id=tenant_id, at=self._clock(), region=self._region,
                                landed_at=self._landing_clock())
        try:
            self._land(table, jurisdiction, pending, changes)
        except (ServiceUnavailable, Throttled):
            audit_write_failed()
            raise
        return pending

    def commit_batch(self, tenant_id: str, jurisdiction: str,
                     entries: Sequence[tuple[AuditEventDraft, Sequence[TransactWriteItemTypeDef]]],
                     shared: Sequence[TransactWriteItemTypeDef] = ()) -> list[dict[str, Any]]:
        """Land several events, each with its own changes, and ``shared`` checks in ONE TransactWriteItems
        (bulk imports: each event stays atomic with its change; at most 100 items in all).

        A refused condition raises ``ChangeRejected`` whose ``index`` is the ENTRY's (``-k - 1``: shared ``k``)."""
        table = self._table_for(jurisdiction)
        events = [pending_event(draft, tenant_id=tenant_id, at=self._clock(), region=self._region,
                                landed_at=self._landing_clock()) for draft, _ in entries]
        puts = [self._pending_put(table, jurisdiction, pending) for pending in events]
        owners = [-k - 1 for k in range(len(shared))] + [n for n, (_, changes) in enumerate(entries) for _ in changes]
        changes = [*shared, *(change for _, own in entries for change in own)]
        for attempt in range(MAX_ATTEMPTS):
            if attempt:
                self._backoff(attempt)
            try:
                if self._try_write([*puts, *changes], offset=len(puts)):
                    return events
            except ChangeRejected as exc:
                raise ChangeRejected(owners[exc.index], exc.code) from None
            except (ServiceUnavailable, Throttled):
                audit_write_failed()
                raise
        raise ServiceUnavailable("the audit trail is busy; retry later")

    def _land(self, table: str, jurisdiction: str, pending: dict[str, Any],
              changes: Sequence[TransactWriteItemTypeDef]) -> None:
        put = self._pending_put(table, jurisdiction, pending)
        if not changes:
            try:
                with translated("the audit trail"):
                    self._client.put_item(**put["Put"])
            except ClientError as exc:  # a retry of a put that was applied: the random event id is ours
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise
            return
        for attempt in range(MAX_ATTEMPTS):
            if attempt:
                self._backoff(attempt)
            if self._try_write([put, *changes], offset=1):
                return
        raise ServiceUnavailable("the audit trail is busy; retry later")

    def _pending_put(self, table: str, jurisdiction: str, pending: dict[str, Any]) -> TransactWriteItemTypeDef:
        return {"Put": {
            "TableName": table,
            "Item": {
                "pk": {"S": self._layout.marker_pk(pending["tenant_id"], pending["event_id"])},
                "sk": {"S": PENDING_PREFIX + pending["event_id"]},
                "tenant_id": {"S": pending["tenant_id"]},
                "jurisdiction": {"S": jurisdiction},
                "pending": {"S": json.dumps(pending, separators=(",", ":"), ensure_ascii=False)},
            },
            "ConditionExpression": "attribute_not_exists(pk)",
        }}

    # --- sequencing (stream handler and seal-now share this) -----------------------------------

    def seal(self, tenant_id: str, jurisdiction: str, named: Sequence[str] = (), scan: bool = True,
             images: Mapping[str, Mapping[str, Any]] | None = None) -> int:
        """Chain every pending event of the tenant in event-id order; return how many this call sealed.

        The scan covers events landed within ``PENDING_WINDOW`` of the newest sealed one; ``named``
        event ids (from stream records) are looked up by key wherever they sort.

        One pass over the markers (``SCAN_PAGE`` a page) finds every event that landed before the call;
        they are chained ``SEAL_BATCH`` per transaction as the pass goes.

        ``scan=False`` (the stream sequencer, which knows what landed) seals only the ``named`` events still
        pending, looked up by key: no read of the window's sealed markers, which on a busy tenant hold
        minutes of traffic (at 3,000 events/s, 900,000 markers per stream batch). Whatever a batch did not
        name stays pending for its own record or for the next scan (seal-on-read).

        ``images`` (the stream sequencer's): event id -> the image that first landed for it, chained in place
        of whatever its marker holds now (a later image is never chained).

        Safe to run concurrently and repeatedly: each batch is one transaction conditional on the head
        it extends, on its pending items still existing and on their event ids having no landed record
        (``LND#``: an event id already chained, or reported, is left pending for the sequencer to report),
        so a lost race re-reads and continues."""
        table = self._table_for(jurisdiction)
        sealed = lost = size = 0
        settled: set[str] = set()  # event ids this call found already chained or reported: not retried
        where: dict[str, str] = {}  # event id -> the partition its pending marker was found in
        on_read = scan and not named and not images
        asked = self._scans.asked(tenant_id)
        with self._lock_for(tenant_id):
            if on_read and self._scans.covered(tenant_id, asked):
                return 0
            scan_number = self._scans.begin(tenant_id) if on_read else None
            pending = self._unsettled(table, tenant_id, named, scan, images or {}, settled, where)
            while batch := list(itertools.islice(pending, SEAL_BATCH)):
                if (fits := within_days(batch)) < len(batch):  # the day counts' items must fit the transaction
                    pending, batch = itertools.chain(batch[fits:], pending), batch[:fits]
                events = self._chain(tenant_id, table, batch)
                self.actions.add(table, tenant_id, events)  # before the transaction: a superset, never a gap
                refused: list[int] = []
                items, high = self._seal_items(table, tenant_id, jurisdiction, batch, events, where)
                if self._try_write(items, offset=len(items), refused=refused):
                    sealed, size = sealed + len(events), events[-1]["seq"]
                    self._heads[tenant_id] = (events[-1]["seq"], events[-1]["hash"])
                    self._high[tenant_id] = high
                    self._marks[tenant_id] = self._newest(tenant_id, batch)
                    for landed, event in zip(batch, events, strict=True):
                        self._sealed_here.put((tenant_id, str(landed["event_id"])),
                                              (int(event["seq"]), landed_digest(landed)))
                    self._notify(jurisdiction, events)
                    continue
                # another sealer moved the head or took these events: re-read the head and this batch's markers
                # by key, and go on with the pass (a new pass would read every marker partition again)
                settled.update(refused_landed(items, refused))
                self._heads.pop(tenant_id, None)
                lost += 1
                if lost >= MAX_ATTEMPTS:
                    raise ServiceUnavailable("the audit trail is busy; retry later")
                self._backoff(lost)
                pending = itertools.chain(self._still_pending(table, tenant_id, batch, settled), pending)
            if scan_number is not None:
                self._scans.done(tenant_id, scan_number)
        if sealed and self._after_seal is not None:
            self._after_seal(tenant_id, jurisdiction, size, sealed)
        return sealed

    def _still_pending(self, table: str, tenant_id: str, batch: list[dict[str, Any]],
                       settled: set[str]) -> list[dict[str, Any]]:
        """The events of ``batch`` whose markers are still pending and not ``settled``, in order."""
        ids = [str(pending["event_id"]) for pending in batch if str(pending["event_id"]) not in settled]
        markers = self.markers.markers(table, tenant_id, ids)
        return [pending for pending in batch
                if str(pending["event_id"]) in markers and is_pending(markers[str(pending["event_id"])])
                and str(pending["event_id"]) not in settled]

    def sealed_here(self, tenant_id: str, event_id: str) -> int | None:
        """The seq this store chained ``event_id`` at, when it did so recently (its own committed seal)."""
        here = self._sealed_here.get((tenant_id, event_id))
        return here[0] if here is not None else None

    def chained_here(self, tenant_id: str, event_id: str, digest: str) -> bool:
        """Whether this store recently chained ``event_id`` itself, as the image of ``digest``."""
        here = self._sealed_here.get((tenant_id, event_id))
        return here is not None and here[1] == digest

    def _unsettled(self, table: str, tenant_id: str, named: Sequence[str], scan: bool,
                   images: Mapping[str, Mapping[str, Any]], settled: set[str],
                   where: dict[str, str]) -> Iterator[dict[str, Any]]:
        """``_pending``, each event as ``images`` says it first landed, less the ``settled`` event ids."""
        for pending in self._pending(table, tenant_id, where, named, scan):
            event_id = str(pending["event_id"])
            if event_id not in settled:
                image = images.get(event_id)
                yield dict(image) if image and image.get("event_id") == event_id else pending

    def _notify(self, jurisdiction: str, events: list[dict[str, Any]]) -> None:
        if self._after_commit is not None:
            for event in events:
                self._after_commit(jurisdiction, event)

    def _pending(self, table: str, tenant_id: str, where: dict[str, str], named: Sequence[str] = (),
                 scan: bool = True) -> Iterator[dict[str, Any]]:
        """The tenant's pending events in event-id order: ``named`` ones below the scan window (by key),
        then the window's (every marker partition's, merged), read a page at a time as the caller consumes
        them; without ``scan``, only the ``named`` ones, wherever they sort. ``where`` gets each event's
        partition."""
        self._head(tenant_id, table)  # loads the low-water mark with the head
        if not scan:
            yield from sorted(self._named(table, tenant_id, named, PENDING_PREFIX + "\U0010ffff", where),
                              key=lambda pending: str(pending["event_id"]))
            return
        mark = self._marks.get(tenant_id)
        low = PENDING_PREFIX + (landed_before(mark, PENDING_WINDOW) if mark else "")
        yield from sorted(self._named(table, tenant_id, named, low, where),
                          key=lambda pending: str(pending["event_id"]))
        pks = self._layout.marker_pks(tenant_id)
        if tenant_pk(tenant_id) not in pks and self._shards.has_legacy(table, tenant_id):
            pks.append(tenant_pk(tenant_id))
        pages = self._shards.queries([self._window(table, pk, low) for pk in pks])  # first pages side by side
        streams = [self._still_pending_in(pk, items) for pk, items in zip(pks, pages, strict=True)]
        for pk, pending in heapq.merge(*streams, key=lambda found: str(found[1]["event_id"])):
            where[str(pending["event_id"])] = pk
            yield pending

    @staticmethod
    def _window(table: str, pk: str, low: str) -> dict[str, Any]:
        """The Query of the markers of partition ``pk`` from ``low`` on that hold an event."""
        return {"TableName": table, "ConsistentRead": True, "FilterExpression": PENDING, "Limit": SCAN_PAGE,
                "KeyConditionExpression": "pk = :pk AND sk BETWEEN :lo AND :hi",
                "ExpressionAttributeValues": {":pk": {"S": pk}, ":lo": {"S": low},
                                              ":hi": {"S": PENDING_PREFIX + "~"}}}

    @staticmethod
    def _still_pending_in(pk: str, items: Iterator[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
        """(pk, pending event) of the still-pending markers among ``items`` (partition ``pk``'s, in order)."""
        return ((pk, json.loads(item["pending"]["S"])) for item in items if is_pending(item))

    def _named(self, table: str, tenant_id: str, event_ids: Sequence[str], low: str,
               where: dict[str, str]) -> list[dict[str, Any]]:
        """The still-pending events among ``event_ids`` that sort below the scan's lower bound."""
        below = [event_id for event_id in event_ids if PENDING_PREFIX + event_id < low]
        found = []
        for event_id, item in self.markers.markers(table, tenant_id, below).items():
            if is_pending(item):
                where[event_id] = item["pk"]["S"]
                found.append(json.loads(item["pending"]["S"]))
        return found

    def _newest(self, tenant_id: str, batch: list[dict[str, Any]]) -> str:
        return max([self._marks.get(tenant_id, ""), *(str(pending["event_id"]) for pending in batch)])

    def land_finding(self, tenant_id: str, jurisdiction: str, marker_id: str, draft: AuditEventDraft) -> str:
        """Land ``draft`` (the sequencer's record of tampering it found) once, under the id ``marker_id``
        derived from what it found; return that id."""
        pending = pending_event(draft, tenant_id=tenant_id, at=self._clock(), region=self._region,
                                landed_at=self._landing_clock())
        pending["event_id"] = marker_id
        self._land(self._table_for(jurisdiction), jurisdiction, pending, ())
        return marker_id

    def _chain(self, tenant_id: str, table: str, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        seq, prev_hash = self._head(tenant_id, table)
        events = []
        for pending in batch:
            seq += 1
            event = sequenced(pending, seq=seq, prev_hash=prev_hash)
            prev_hash = event["hash"]
            events.append(event)
        return events

    def _seal_items(self, table: str, tenant_id: str, jurisdiction: str, batch: list[dict[str, Any]],
                    events: list[dict[str, Any]],
                    where: Mapping[str, str]) -> tuple[list[TransactWriteItemTypeDef], str]:
        """The seal transaction's items (conditional on the chain, and on each event id's landed record being
        absent) and the new high-water mark."""
        first_seq = events[0]["seq"] - 1
        high = self._high.get(tenant_id, "")
        if high is None:
            high = self._high[tenant_id] = self._time_index.high_water(table, tenant_id)
        filed, high = file_events(high, events)
        sharded_from = self._shards.boundary(table, tenant_id)
        items: list[TransactWriteItemTypeDef] = []
        for pending, event, entry in zip(batch, events, filed, strict=True):
            event_pk = self._layout.event_pk(tenant_id, int(event["seq"]), sharded_from)
            items.append(self._event_put(table, event_pk, tenant_id, event, entry.key))
            if entry.late:
                items.append(self._time_index.late_put(table, event_pk, entry))
            marker_pk = where.get(str(pending["event_id"])) or self._layout.marker_pk(tenant_id, pending["event_id"])
            items.append({"Update": {  # marked, not deleted: the audit table stays append-only (no DeleteItem)
                "TableName": table,
                "Key": {"pk": {"S": marker_pk}, "sk": {"S": PENDING_PREFIX + pending["event_id"]}},
                "UpdateExpression": "REMOVE pending SET sealed_seq = :seq",
                "ConditionExpression": PENDING,
                "ExpressionAttributeValues": {":seq": {"N": str(event["seq"])}}}})
            items.append({"Put": cast("PutTypeDef", landed_put(  # only if absent: never chained twice
                table, marker_pk, jurisdiction, str(pending["event_id"]), landed_digest(pending), int(event["seq"])))})
        items += count_updates(table, tenant_id, events)
        items.append(self._head_update(table, tenant_id, first_seq, events, self._newest(tenant_id, batch), high,
                                       sharded_from if self._layout.sharded else None))
        return items, high

    def _lock_for(self, tenant_id: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(tenant_id, threading.Lock())

    def _head(self, tenant_id: str, table: str) -> tuple[int, str]:
        cached = self._heads.get(tenant_id)
        if cached is not None:
            return cached
        with translated("the audit trail"):
            item = self._client.get_item(TableName=table, ConsistentRead=True,
                                         Key={"pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": HEAD}}).get("Item")
        self._shards.note(table, tenant_id, item)
        head = (int(item["seq"]["N"]), item["hash"]["S"]) if item else (0, GENESIS_HASH)
        self._high[tenant_id] = item["at_high"]["S"] if item and "at_high" in item else None if item else ""
        self._heads[tenant_id] = head
        if item and "last_event_id" in item:
            self._marks[tenant_id] = item["last_event_id"]["S"]
        return head

    def _try_write(self, items: list[TransactWriteItemTypeDef], offset: int, refused: list[int] | None = None) -> bool:
        """One TransactWriteItems; False on a lost race (retry). Items from ``offset`` are the caller's;
        ``refused`` collects the indexes of the items before it whose condition failed."""
        try:
            with translated("the audit trail"):
                self._client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if error_code(exc) != "TransactionCanceledException":
                raise
            reasons = [r.get("Code", "None") for r in exc.response.get("CancellationReasons", [])]
            if refused is not None:
                refused += [i for i, code in enumerate(reasons[:offset]) if code == "ConditionalCheckFailed"]
            return self._resolve_cancel(reasons, offset)
        return True

    @staticmethod
    def _resolve_cancel(reasons: list[str], offset: int) -> bool:
        """False when the chain head moved or another transaction got in the way (retry); ChangeRejected
        when a condition of one of the caller's changes failed; Throttled when DynamoDB shed the load.

        DynamoDB gives throttling and conflicts as reasons on whichever item they hit, the caller's
        changes included: those are transient, not a refusal of the change (the fault-injection tests)."""
        for index, code in enumerate(reasons[offset:]):
            if code == "ConditionalCheckFailed":
                raise ChangeRejected(index, code)
        if any(code == "ConditionalCheckFailed" for code in reasons[:offset]):
            return False
        if any(code in _CANCELLED_BY_THROTTLING for code in reasons):
            raise Throttled("the audit trail is throttled; retry later", retry_after=1)
        if any(code == "TransactionConflict" for code in reasons):
            return False
        for index, code in enumerate(reasons[offset:]):
            if code not in ("None", ""):
                raise ChangeRejected(index, code)
        raise ServiceUnavailable("the audit trail could not be written; retry later")

    @staticmethod
    def _head_update(table: str, tenant_id: str, seq: int, events: list[dict[str, Any]],
                     last_event_id: str, high: str, sharded_from: int | None) -> TransactWriteItemTypeDef:
        """The head moved to the last of ``events``, conditional on it being at ``seq``, with the status
        pointers they move (``adapters/audit_summaries.py``); ``sharded_from`` (the sharded layout's first
        ``seq``) is recorded by the first seal that uses the layout and never changes."""
        condition = "attribute_not_exists(pk)" if seq == 0 else "#seq = :prev"
        event = events[-1]
        summary, values = head_summary(events)
        values.update({":seq": {"N": str(event["seq"])}, ":hash": {"S": event["hash"]},
                       ":last": {"S": last_event_id}, ":high": {"S": high}})
        update = "SET #seq = :seq, #hash = :hash, last_event_id = :last, at_high = :high" + summary
        if sharded_from is not None:
            update += ", sharded_from = if_not_exists(sharded_from, :from)"
            values[":from"] = {"N": str(sharded_from)}
        if seq:
            values[":prev"] = {"N": str(seq)}
        return {"Update": {
            "TableName": table,
            "Key": {"pk": {"S": tenant_pk(tenant_id)}, "sk": {"S": HEAD}},
            "UpdateExpression": update,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": {"#seq": "seq", "#hash": "hash"},
            "ExpressionAttributeValues": values,
        }}

    @staticmethod
    def _event_put(table: str, pk: str, tenant_id: str, event: dict[str, Any],
                   time_key: str) -> TransactWriteItemTypeDef:
        """The sealed event's item. In an event shard it carries no ``tenant_id``: the time index that reads
        it is keyed by its ``pk`` (``by_shard_time``), not by the tenant (``by_time``, one hot partition)."""
        item: dict[str, Any] = {
            "pk": {"S": pk},
            "sk": {"S": event_sk(event["seq"])},
            "at": {"S": time_key},
            "event": {"S": json.dumps(event, separators=(",", ":"), ensure_ascii=False)},
        }
        if pk == tenant_pk(tenant_id):
            item["tenant_id"] = {"S": tenant_id}
        return {"Put": {"TableName": table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}}

    def table(self, jurisdiction: str) -> str:
        return self._table_for(jurisdiction)

    def head(self, tenant_id: str, jurisdiction: str) -> tuple[int, str]:
        """The stored head (consistent read), bypassing the cache, after sealing what is pending."""
        self.seal(tenant_id, jurisdiction)
        self._heads.pop(tenant_id, None)
        return self._head(tenant_id, self._table_for(jurisdiction))

    def events(self, tenant_id: str, jurisdiction: str, first_seq: int = 1,
               last_seq: int | None = None) -> Iterator[dict[str, Any]]:
        """Events in ``seq`` order, page by page (constant memory), after sealing what is pending.

        A range that ends at or below the head this container last saw is chained already (sealing only
        appends after the head): no seal, as when a caller has just sealed to find the range."""
        cached = self._heads.get(tenant_id)
        if last_seq is None or cached is None or last_seq > cached[0]:
            self.seal(tenant_id, jurisdiction)
        return self._events(tenant_id, jurisdiction, first_seq, last_seq)

    def _events(self, tenant_id: str, jurisdiction: str, first_seq: int,
                last_seq: int | None) -> Iterator[dict[str, Any]]:
        for item in self._shards.events(self._table_for(jurisdiction), tenant_id, first_seq, last_seq):
            yield json.loads(item["event"]["S"])

    def seq_range(self, tenant_id: str, jurisdiction: str, start: str | None,
                  end: str | None, seal: bool = True) -> tuple[int, int] | None:
        """The shortest run of ``seq`` holding every event with ``start <= at < end`` (None: unbounded), after
        sealing what is pending; it may hold events stamped outside the range between those inside.

        ``seal=False``: the caller sealed earlier in the same request (what landed before the request is
        chained already; another scan would only add what landed since), and the head it saw is kept."""
        if seal:
            self.seal(tenant_id, jurisdiction)
        table = self._table_for(jurisdiction)
        if end is None and seal:  # every sealed event: the head as stored (another container may have sealed)
            self._heads.pop(tenant_id, None)
        head = self._head(tenant_id, table)[0]
        return self._time_index.seq_run(table, tenant_id, start, end, head)

    def put_checkpoint(self, jurisdiction: str, checkpoint: dict[str, Any]) -> None:
        with translated("the audit trail"):
            self._client.put_item(TableName=self._table_for(jurisdiction), Item={
                "pk": {"S": tenant_pk(checkpoint["tenant_id"])},
                "sk": {"S": f"CKP#{int(checkpoint['seq']):012d}"},
                "checkpoint": {"S": json.dumps(checkpoint, separators=(",", ":"))},
            })

    def checkpoints(self, tenant_id: str, jurisdiction: str, first_seq: int = 1,
                    last_seq: int | None = None) -> list[dict[str, Any]]:
        upper = f"CKP#{last_seq:012d}" if last_seq is not None else "CKP#~"
        found: list[dict[str, Any]] = []
        start_key: dict[str, Any] | None = None
        while True:
            params: dict[str, Any] = {
                "TableName": self._table_for(jurisdiction),
                "KeyConditionExpression": "pk = :pk AND sk BETWEEN :lo AND :hi",
                "ExpressionAttributeValues": {":pk": {"S": tenant_pk(tenant_id)},
                                              ":lo": {"S": f"CKP#{first_seq:012d}"}, ":hi": {"S": upper}}}
            if start_key:
                params["ExclusiveStartKey"] = start_key
            with translated("the audit trail"):
                page = self._client.query(**params)
            found += [json.loads(item["checkpoint"]["S"]) for item in page.get("Items", [])]
            start_key = page.get("LastEvaluatedKey")
            if not start_key:
                return found
