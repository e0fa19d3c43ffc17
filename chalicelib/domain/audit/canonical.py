"""Audit events: their shape, RFC 8785 canonical JSON, hashing and sealing. No I/O, no boto3.

An audit event is one flat JSON object (API.md, "Audit event"). Its ``hash`` is SHA-256 over the
RFC 8785 (JCS) canonical JSON of the event minus ``hash``; ``prev_hash`` links it to the previous
event of its tenant (64 zeros before seq 1).

Canonical JSON, fast: ``rfc8785`` is pure Python (about 20 µs per event). For *plain* values (exact
``str``, ``bool``, ``None``, ``int`` within ±(2**53-1), ``list``, ``dict`` with ``str`` keys; no
floats) whose serialization is ASCII, the C ``json`` encoder with sorted keys and compact separators
writes the same bytes: ASCII keys sort the same by code point as by UTF-16 unit; both escape exactly
``"``, ``\\``, ``\\b \\f \\n \\r \\t`` (short forms) and other control characters (``\\u00xx``, lower-case
hex) and nothing else; integers, ``true``, ``false``, ``null`` print alike. Everything else (floats,
non-ASCII, subclasses, tuples) takes the ``rfc8785`` path. Tests in ``tests/unit/domain/test_audit_chain.py``
check both against ``rfc8785`` on generated and mutated data.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import rfc8785

GENESIS_HASH = "0" * 64
MAX_SAFE_INT = 2**53 - 1
EVENT_FIELDS = (
    "tenant_id", "seq", "prev_hash", "hash", "at", "region", "actor",
    "action", "resource", "outcome", "request_id", "details",
)
_HEX64 = re.compile(r"[0-9a-f]{64}")
_AT_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


class AuditFormatError(ValueError):
    """An event, row, checkpoint or manifest is not in the exported shape (message has no event data)."""


# --- canonical JSON ---------------------------------------------------------------------------

_ENCODER = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False)


class _NotPlain(Exception):
    """Raised while parsing: the text holds a float, a NaN/Infinity constant or an unsafe integer."""


def _refuse(_text: str) -> Any:
    raise _NotPlain


def _safe_int(text: str) -> int:
    value = int(text)
    if -MAX_SAFE_INT <= value <= MAX_SAFE_INT:
        return value
    raise _NotPlain


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_PLAIN_DECODER = json.JSONDecoder(parse_float=_refuse, parse_int=_safe_int, parse_constant=_refuse)
_DECODER = json.JSONDecoder(parse_constant=_no_constant)


def _is_plain(value: Any) -> bool:
    """Whether ``value`` is built only of the types for which the C encoder matches RFC 8785."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return -MAX_SAFE_INT <= value <= MAX_SAFE_INT  # type: ignore[no-any-return]
    if kind is dict:
        return all(type(k) is str and _is_plain(v) for k, v in value.items())
    if kind is list:
        return all(_is_plain(v) for v in value)
    return False


def _canonical_text(obj: Any, plain: bool | None = None) -> str:
    """Canonical JSON of ``obj``; ``plain`` says it is known plain (parsed by ``_parse_json``)."""
    if plain is None:
        plain = _is_plain(obj)
    if plain:
        text = _ENCODER.encode(obj)
        if text.isascii():
            return text
    return rfc8785.dumps(obj).decode("utf-8")


def _canonical_bytes(obj: Any, plain: bool | None = None) -> bytes:
    return _canonical_text(obj, plain).encode("utf-8")


def canonical_bytes(obj: Any) -> bytes:
    """RFC 8785 canonical JSON (UTF-8) of ``obj``; ``rfc8785.CanonicalizationError`` if impossible."""
    return _canonical_bytes(obj)


def _parse_json(text: str) -> tuple[Any, bool]:
    """The JSON value of ``text`` and whether it is plain; ValueError when it is not JSON."""
    try:
        return _PLAIN_DECODER.decode(text), True
    except _NotPlain:
        return _DECODER.decode(text), False


def event_hash(event: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of ``event`` minus its ``hash`` member, if any."""
    body = {key: value for key, value in event.items() if key != "hash"}
    return hashlib.sha256(canonical_bytes(body)).hexdigest()


# --- sealing events ---------------------------------------------------------------------------


def format_at(moment: datetime) -> str:
    """``2026-11-25T16:30:00.123456Z``: UTC, microseconds, ``Z``; ``moment`` must be timezone-aware."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise AuditFormatError("audit times must be timezone-aware")
    return moment.astimezone(UTC).strftime(_AT_FORMAT)


@dataclass(frozen=True, slots=True)
class AuditEventDraft:
    """What a service wants recorded; ``details`` holds identifiers and counts, never personal data."""

    actor_sub: str
    actor_role: str
    action: str
    resource: str
    outcome: str
    request_id: str
    details: Mapping[str, Any] = field(default_factory=dict)


def _require_text(**values: object) -> None:
    for name, value in values.items():
        if type(value) is not str:
            raise AuditFormatError(f"{name} must be a string")


def seal(
    draft: AuditEventDraft, *, tenant_id: str, seq: int, prev_hash: str, at: datetime, region: str,
    hashed: bool = True,
) -> dict[str, Any]:
    """The exported event for ``draft`` at position ``seq`` of the tenant's chain, ``hash`` included (left
    empty when not ``hashed``: an event landing unsequenced gets its hash from the sequencer)."""
    _require_text(
        tenant_id=tenant_id, region=region, actor_sub=draft.actor_sub, actor_role=draft.actor_role,
        action=draft.action, resource=draft.resource, outcome=draft.outcome, request_id=draft.request_id,
    )
    if type(seq) is not int or not 1 <= seq <= MAX_SAFE_INT:
        raise AuditFormatError("seq must be a positive integer")
    if not is_hash(prev_hash) or (seq == 1 and prev_hash != GENESIS_HASH):
        raise AuditFormatError("prev_hash must be 64 lower-case hex digits (64 zeros at seq 1)")
    event: dict[str, Any] = {
        "tenant_id": tenant_id, "seq": seq, "prev_hash": prev_hash, "hash": "",
        "at": format_at(at), "region": region, "actor": {"sub": draft.actor_sub, "role": draft.actor_role},
        "action": draft.action, "resource": draft.resource, "outcome": draft.outcome,
        "request_id": draft.request_id, "details": {},
    }
    try:  # details are copied through canonical JSON: the event holds what a reader of the export sees
        event["details"] = json.loads(canonical_bytes(dict(draft.details)))
        if hashed:
            event["hash"] = event_hash(event)
    except (ValueError, TypeError, RecursionError) as exc:
        raise AuditFormatError("details must be a JSON object of strings, integers, booleans, lists") from exc
    return event


def is_hash(value: object) -> bool:
    """Whether ``value`` is a SHA-256 digest as the chain writes it (64 lower-case hex digits)."""
    return type(value) is str and _HEX64.fullmatch(value) is not None
