"""Unsequenced ("pending") audit events and their sequencing into the chain.

A request lands its event without ``seq``/``prev_hash``/``hash`` under a time-ordered unique
``event_id``; the sequencer later gives it the next ``seq`` of the tenant's chain and the previous
event's hash. The sealed event is exactly the export format of API.md (``event_id`` is not part of it).
"""
from __future__ import annotations

import hashlib
import itertools
import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.domain.audit import GENESIS_HASH, AuditEventDraft, AuditFormatError, event_hash, is_hash, seal

_SEQUENCED = ("seq", "prev_hash", "hash")
_ID_TIME = "%Y%m%dT%H%M%S%f"


_LANDED = itertools.count()  # next() is atomic in CPython: threads of one process never share a number


def new_event_id(at: datetime) -> str:
    """Sorts by landing time (microseconds, UTC), then by this process's landing order (two events of one
    process at the same instant keep their order), then by a random suffix that makes it unique."""
    return f"{at.astimezone(UTC).strftime(_ID_TIME)}-{next(_LANDED):012d}-{uuid.uuid4().hex[:16]}"


def landed_before(event_id: str, window: timedelta) -> str:
    """The smallest ``event_id`` that landed at most ``window`` before ``event_id`` did (a key bound)."""
    at = datetime.strptime(event_id.split("-", 1)[0], _ID_TIME).replace(tzinfo=UTC)
    return (at - window).strftime(_ID_TIME)


def missing_marker_id(event_id: str) -> str:
    """The id under which the sequencer records that pending event ``event_id`` vanished before sealing:
    derived, so a redelivered stream batch records it once; sorts right after the lost event."""
    return f"{event_id}-missing"


def altered_marker_id(event_id: str, record_id: str) -> str:
    """The id under which the sequencer records that stream record ``record_id`` altered pending event
    ``event_id``: derived from the record, so a redelivered batch records each alteration once."""
    return f"{event_id}-altered-{record_id}"


def landed_digest(pending: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of a pending event as it landed (sorted-key JSON): what the sequencer keeps of the
    first image of an event id, to tell a later image apart without holding the event."""
    text = json.dumps(pending, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def pending_event(draft: AuditEventDraft, *, tenant_id: str, at: datetime, region: str,
                  landed_at: datetime | None = None) -> dict[str, Any]:
    """The event as it lands: validated like a sealed one, without its chain position. ``event_id`` orders
    by ``landed_at`` (the host's real clock: the sequencer's scan window is in that time), ``at`` is the
    event's own time (the application's clock, which tests may freeze or move)."""
    sealed = seal(draft, tenant_id=tenant_id, seq=1, prev_hash=GENESIS_HASH, at=at, region=region, hashed=False)
    pending = {key: value for key, value in sealed.items() if key not in _SEQUENCED}
    pending["event_id"] = new_event_id(landed_at or at)
    return pending


def sequenced(pending: dict[str, Any], *, seq: int, prev_hash: str) -> dict[str, Any]:
    """The chain event for ``pending`` at ``seq`` after ``prev_hash``, ``hash`` included."""
    if type(seq) is not int or seq < 1 or not is_hash(prev_hash) or (seq == 1 and prev_hash != GENESIS_HASH):
        raise AuditFormatError("seq must be positive and prev_hash 64 hex digits (64 zeros at seq 1)")
    event: dict[str, Any] = {"tenant_id": pending["tenant_id"], "seq": seq, "prev_hash": prev_hash, "hash": ""}
    event.update({key: value for key, value in pending.items() if key not in ("tenant_id", "event_id")})
    event["hash"] = event_hash(event)
    return event
