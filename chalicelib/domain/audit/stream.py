"""What one DynamoDB stream batch of an audit table says happened to its pending (``PND#``) items.

The application changes a ``PND#`` item in two ways only: a request lands it (a put only if absent: an
INSERT record) and the sequencer seals it (REMOVE ``pending``, SET ``sealed_seq``: a MODIFY record with
nothing else changed). It never deletes one. Every other MODIFY of such an item, every deletion (pending
or sealed) and a second INSERT of the same event id is someone with write access to the table rewriting
the trail: an *alteration*. The stream's old image (the table streams NEW_AND_OLD_IMAGES) and the first
INSERT image of the same batch say what the event was before; that first image is what gets chained.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from chalicelib.domain.audit.layout import tenant_of_pk
from chalicelib.domain.audit.pending import landed_digest

PENDING_PREFIX = "PND#"
LANDED_PREFIX = "LND#"
"""An event id's landed record (``adapters/audit_markers.py``): only ever put, if absent, by the sealer."""
TENANT_PREFIX = "TENANT#"

REWRITTEN = "rewritten"
"""A pending event was rewritten before it was sealed (the sealer chains what it finds)."""
REWRITTEN_AFTER_SEALING = "rewritten_after_sealing"
"""A sealed marker was overwritten (with a pending event again, the same id would be chained twice)."""
REMOVED_AFTER_SEALING = "removed_after_sealing"
"""A sealed marker was deleted (making room for the same event id to land and be chained again)."""
PENDING_REMOVED = "pending_removed"
"""A pending event was deleted before it was sealed (it is reported, not chained)."""
PENDING_REPLACED = "pending_replaced"
"""An event id landed again with another image (deleted and put back, or put back over its sealed marker):
the later image is never chained; the first is, once."""
LANDED_RECORD_REMOVED = "landed_record_removed"
"""An event id's landed record was deleted (making room to chain the id again): it is put back."""
LANDED_RECORD_REWRITTEN = "landed_record_rewritten"
"""An event id's landed record was changed."""
SEALED_NOT_CHAINED = "sealed_not_chained"
"""A marker changed the way the sealer changes it, but the chain does not hold that event at ``sealed_seq``:
someone faked the seal (the event dropped unchained) or put another event in its place."""


@dataclass(frozen=True)
class Alteration:
    """One stream record of a ``PND#`` item that the application did not write."""

    event_id: str
    record_id: str
    """The stream record's sequence number: the same on every redelivery, so recorded once."""
    change: str
    before: Mapping[str, Any]
    """The event as it was before (old image, else the batch's INSERT image); empty when unknown."""
    fields: tuple[str, ...]
    """Names of the event's fields whose value the change replaced or removed (names, never values)."""
    sealed_seq: int | None
    """Where the event had been chained, when the change hit a sealed marker."""
    now_pending: bool
    """The item holds an event the sealer would chain (``pending`` without ``sealed_seq``)."""
    landed_record: tuple[str, int | None] | None = None
    """A deleted landed record as it was (digest, seq), to put back."""


@dataclass
class TenantBatch:
    """What a batch says about one tenant's pending items."""

    landed: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    """event_id -> the pending event as it first landed in the batch (first INSERT image), in stream order."""
    first_records: dict[str, str] = field(default_factory=dict)
    """event_id -> the stream record id of that first INSERT."""
    altered: list[Alteration] = field(default_factory=list)
    sealed: dict[str, Sealing] = field(default_factory=dict)
    """event id -> the batch's record of its sealing (its item gone later is an alteration, not a loss)."""


@dataclass(frozen=True)
class Sealing:
    """A record with the sealer's change of a marker: the event it held, and where it says it was chained."""

    record_id: str
    seq: int
    pending: Mapping[str, Any]


def unchained(event_id: str, sealing: Sealing, event: Mapping[str, Any] | None) -> Alteration | None:
    """None when the chain holds the sealed event at the record's ``seq`` (``event``: what it holds there,
    None for nothing); else the alteration: the seal was faked, or another event took the place."""
    landed = {key: value for key, value in sealing.pending.items() if key != "event_id"}
    chained = {key: value for key, value in (event or {}).items() if key not in ("seq", "prev_hash", "hash")}
    if event is not None and chained == landed:
        return None
    return Alteration(event_id=event_id, record_id=sealing.record_id, change=SEALED_NOT_CHAINED,
                      before=sealing.pending, fields=changed_fields(landed, chained) if event else (),
                      sealed_seq=sealing.seq, now_pending=False)


def read_batch(records: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], TenantBatch]:
    """(tenant_id, jurisdiction) -> what ``records`` (Lambda's shape, in stream order) say about its items."""
    found: dict[tuple[str, str], TenantBatch] = {}
    removed: dict[tuple[str, str], dict[str, int]] = {}  # owner -> event id -> index of its deletion in altered
    for record in records:
        data = record.get("dynamodb", {})
        old, new = data.get("OldImage", {}), data.get("NewImage", {})
        sk = _text(data.get("Keys", {}), "sk") or _text(new, "sk") or _text(old, "sk")
        if not sk.startswith((PENDING_PREFIX, LANDED_PREFIX)):
            continue
        event_id = sk.partition("#")[2]
        trusted = old or new  # the image the application wrote, as far as the record tells
        pk = _text(data.get("Keys", {}), "pk")
        tenant = tenant_of_pk(pk) or _text(trusted, "tenant_id")  # any shard of the tenant's partitions
        owner = (tenant, _text(trusted, "jurisdiction") or _text(new, "jurisdiction"))
        if not all(owner):
            continue
        batch = found.setdefault(owner, TenantBatch())
        if sk.startswith(LANDED_PREFIX):
            if record.get("eventName") in ("MODIFY", "REMOVE"):
                batch.altered.append(_landed_record_change(record, event_id))
            continue
        if record.get("eventName") == "INSERT":
            _landed(batch, removed.setdefault(owner, {}), record, event_id)
            continue
        if record.get("eventName") == "MODIFY" and is_sealing(old, new):
            seq = _seq(new)
            if seq is not None:
                batch.sealed[event_id] = Sealing(_record_id(record), seq, _pending(old))
                continue
        alteration = _alteration(record, event_id, batch.landed.get(event_id, {}))
        if alteration is not None:
            batch.altered.append(alteration)
            if record.get("eventName") == "REMOVE":
                removed.setdefault(owner, {})[event_id] = len(batch.altered) - 1
    return {owner: batch for owner, batch in found.items() if batch.landed or batch.altered or batch.sealed}


def _alteration(record: Mapping[str, Any], event_id: str, inserted: Mapping[str, Any]) -> Alteration | None:
    data = record.get("dynamodb", {})
    old, new = data.get("OldImage", {}), data.get("NewImage", {})
    name = record.get("eventName")
    if name not in ("MODIFY", "REMOVE"):
        return None
    before = _pending(old) or inserted
    after = _pending(new) if name == "MODIFY" else before  # a deletion changes no field: it drops the marker
    if name == "REMOVE":
        change = REMOVED_AFTER_SEALING if "sealed_seq" in old else PENDING_REMOVED
    else:
        change = REWRITTEN_AFTER_SEALING if "sealed_seq" in old else REWRITTEN
    return Alteration(event_id=event_id, record_id=_record_id(record), change=change, before=before,
                      fields=changed_fields(before, after), sealed_seq=_seq(old),
                      now_pending="pending" in new and "sealed_seq" not in new)


def _landed_record_change(record: Mapping[str, Any], event_id: str) -> Alteration:
    data = record.get("dynamodb", {})
    old, new = data.get("OldImage", {}), data.get("NewImage", {})
    seq = _number(old, "seq")
    removed = record.get("eventName") == "REMOVE"
    return Alteration(event_id=event_id, record_id=_record_id(record),
                      change=LANDED_RECORD_REMOVED if removed else LANDED_RECORD_REWRITTEN, before={},
                      fields=tuple(name for name in ("landed", "seq") if removed or old.get(name) != new.get(name)),
                      sealed_seq=seq, now_pending=False,
                      landed_record=(_text(old, "landed"), seq) if removed and _text(old, "landed") else None)


def _landed(batch: TenantBatch, removed: dict[str, int], record: Mapping[str, Any],
            event_id: str) -> None:
    """An INSERT: the event id's first image in the batch, or one put back after its deletion (which then
    becomes one alteration: ``PENDING_REPLACED`` when the image differs from what first landed)."""
    new = record.get("dynamodb", {}).get("NewImage", {})
    image = _pending(new)
    index = removed.pop(event_id, None)
    if index is None:
        if event_id not in batch.landed:
            batch.landed[event_id] = image
            batch.first_records[event_id] = _record_id(record)
        return
    deletion = batch.altered[index]
    first = batch.landed.get(event_id) or deletion.before
    same = landed_digest(image) == landed_digest(first)  # a sealed marker's deletion does not show the event
    batch.altered[index] = replace(deletion, change=deletion.change if same else PENDING_REPLACED,
                                   before=first, fields=changed_fields(first, image),
                                   now_pending="pending" in new and "sealed_seq" not in new)


def changed_fields(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[str, ...]:
    """Names of ``before``'s fields that ``after`` lacks or holds another value for."""
    return tuple(sorted(key for key in before if key not in after or after[key] != before[key]))


def _record_id(record: Mapping[str, Any]) -> str:
    return str(record.get("dynamodb", {}).get("SequenceNumber") or record.get("eventID", ""))


def _seq(image: Mapping[str, Any]) -> int | None:
    return _number(image, "sealed_seq")


def _number(image: Mapping[str, Any], name: str) -> int | None:
    value = image.get(name, {}).get("N") if isinstance(image.get(name), Mapping) else None
    return int(value) if isinstance(value, str) and value.isdigit() else None


def is_sealing(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """The sealer's change: ``pending`` removed, ``sealed_seq`` added, every other attribute as it was."""
    if "pending" not in old or "sealed_seq" in old or "pending" in new or "sealed_seq" not in new:
        return False
    kept = {key: value for key, value in old.items() if key != "pending"}
    return kept == {key: value for key, value in new.items() if key != "sealed_seq"}


def _text(image: Mapping[str, Any], name: str) -> str:
    value = image.get(name, {})
    return str(value.get("S", "")) if isinstance(value, Mapping) else ""


def _pending(image: Mapping[str, Any]) -> dict[str, Any]:
    try:
        pending = json.loads(_text(image, "pending") or "{}")
    except ValueError:
        return {}
    return pending if isinstance(pending, dict) else {}
