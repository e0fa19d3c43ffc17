"""Tamper-evident audit trail, the pure part: hashing, sealing, checkpoints, verification, exports.

An audit event is one flat JSON object (API.md, "Audit event"). Its ``hash`` is SHA-256 over the
RFC 8785 (JCS) canonical JSON of the event minus ``hash``; ``prev_hash`` links it to the previous
event of its tenant (64 zeros before seq 1), and checkpoints signed with ECDSA P-256 (KMS
``ECDSA_SHA_256``) pin the chain's head. Nothing here does I/O or imports boto3.

Canonical JSON, fast: ``rfc8785`` is pure Python (about 20 µs per event). For *plain* values (exact
``str``, ``bool``, ``None``, ``int`` within ±(2**53-1), ``list``, ``dict`` with ``str`` keys; no
floats) whose serialization is ASCII, the C ``json`` encoder with sorted keys and compact separators
writes the same bytes: ASCII keys sort the same by code point as by UTF-16 unit; both escape exactly
``"``, ``\\``, ``\\b \\f \\n \\r \\t`` (short forms) and other control characters (``\\u00xx``, lower-case
hex) and nothing else; integers, ``true``, ``false``, ``null`` print alike. Everything else (floats,
non-ASCII, subclasses, tuples) takes the ``rfc8785`` path. Faster still, an NDJSON line in exactly
the form ``event_line`` writes is checked without parsing (see ``_FAST_EVENT``). Tests in
``tests/test_audit_chain.py`` check both against ``rfc8785`` on generated and mutated data.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

GENESIS_HASH = "0" * 64
MAX_SAFE_INT = 2**53 - 1
EVENT_FIELDS = (
    "tenant_id", "seq", "prev_hash", "hash", "at", "region", "actor",
    "action", "resource", "outcome", "request_id", "details",
)
CSV_COLUMNS = EVENT_FIELDS
CHECKPOINT_FIELDS = ("tenant_id", "seq", "head_hash", "at", "key_id", "signature")
_NESTED_COLUMNS = frozenset({"actor", "details"})
_HEX64 = re.compile(r"[0-9a-f]{64}")
_SEQ_TEXT = re.compile(r"[1-9][0-9]{0,15}")
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
    draft: AuditEventDraft, *, tenant_id: str, seq: int, prev_hash: str, at: datetime, region: str
) -> dict[str, Any]:
    """The exported event for ``draft`` at position ``seq`` of the tenant's chain, ``hash`` included."""
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
        event["hash"] = event_hash(event)
    except (ValueError, TypeError, RecursionError) as exc:
        raise AuditFormatError("details must be a JSON object of strings, integers, booleans, lists") from exc
    return event


def is_hash(value: object) -> bool:
    """Whether ``value`` is a SHA-256 digest as the chain writes it (64 lower-case hex digits)."""
    return type(value) is str and _HEX64.fullmatch(value) is not None


# --- checkpoints ------------------------------------------------------------------------------


def checkpoint_payload(tenant_id: str, seq: int, head_hash: str, at: str) -> bytes:
    """The bytes a checkpoint signs: canonical JSON of ``{"tenant_id", "seq", "head_hash", "at"}``."""
    return canonical_bytes({"tenant_id": tenant_id, "seq": seq, "head_hash": head_hash, "at": at})


def checkpoint_record(
    *, tenant_id: str, seq: int, head_hash: str, at: str, key_id: str, signature: bytes
) -> dict[str, Any]:
    """A manifest checkpoint from a DER signature (as KMS ``Sign`` returns it)."""
    return {
        "tenant_id": tenant_id, "seq": seq, "head_hash": head_hash, "at": at,
        "key_id": key_id, "signature": base64.b64encode(signature).decode("ascii"),
    }


def public_key_pem(der: bytes) -> str:
    """PEM SubjectPublicKeyInfo of a DER public key (as KMS ``GetPublicKey`` returns it)."""
    key = serialization.load_der_public_key(der)
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def _load_p256(public_key_pem_text: str) -> ec.EllipticCurvePublicKey | None:
    try:
        key = serialization.load_pem_public_key(public_key_pem_text.encode("ascii"))
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return None
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return key
    return None


def key_fingerprint(key: ec.EllipticCurvePublicKey) -> str:
    """SHA-256 (hex) of the key's DER SubjectPublicKeyInfo, to compare with a published key."""
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def _checkpoint_shape_ok(checkpoint: Mapping[str, Any]) -> bool:
    return all(type(checkpoint.get(name)) is str for name in ("tenant_id", "head_hash", "at", "signature")) and (
        type(checkpoint.get("seq")) is int
    )


def _signature_ok(checkpoint: Mapping[str, Any], key: ec.EllipticCurvePublicKey) -> bool:
    if not _checkpoint_shape_ok(checkpoint):
        return False
    try:
        payload = checkpoint_payload(
            checkpoint["tenant_id"], checkpoint["seq"], checkpoint["head_hash"], checkpoint["at"]
        )
        key.verify(base64.b64decode(checkpoint["signature"], validate=True), payload, ec.ECDSA(hashes.SHA256()))
    except (ValueError, InvalidSignature):
        return False
    return True


def verify_checkpoint_signature(checkpoint: Mapping[str, Any], public_key_pem: str) -> bool:
    """Whether ``checkpoint["signature"]`` is a valid ECDSA P-256/SHA-256 signature by that key."""
    key = _load_p256(public_key_pem) if isinstance(public_key_pem, str) else None
    return key is not None and _signature_ok(checkpoint, key)


# --- manifest ---------------------------------------------------------------------------------


def build_manifest(
    *,
    tenant_id: str,
    from_: str | None,
    to: str | None,
    events: int,
    first_seq: int | None,
    last_seq: int | None,
    head_hash: str | None,
    checkpoints: Iterable[Mapping[str, Any]],
    public_keys: Mapping[str, str],
    anchor_prev_hash: str | None = None,
) -> dict[str, Any]:
    """An export's manifest; keeps only the checkpoints within ``first_seq..last_seq``, by seq.

    A range that does not start at seq 1 needs ``anchor_prev_hash`` (its first event's prev_hash);
    an empty export has ``events`` 0 and None for ``first_seq``, ``last_seq`` and ``head_hash``.
    """
    if events and (first_seq is None or last_seq is None or last_seq != first_seq + events - 1):
        raise AuditFormatError("last_seq must be first_seq + events - 1")
    if first_seq is not None and first_seq > 1 and anchor_prev_hash is None:
        raise AuditFormatError("an export that does not start at seq 1 needs anchor_prev_hash")
    low, high = (first_seq or 1), (last_seq or 0)
    kept = sorted((c for c in checkpoints if low <= c["seq"] <= high), key=lambda c: int(c["seq"]))
    manifest: dict[str, Any] = {
        "tenant_id": tenant_id, "from": from_, "to": to, "events": events,
        "first_seq": first_seq, "last_seq": last_seq, "head_hash": head_hash,
        "checkpoints": [{name: c[name] for name in CHECKPOINT_FIELDS} for c in kept],
        "public_keys": dict(public_keys),
    }
    if anchor_prev_hash is not None:
        manifest["anchor_prev_hash"] = anchor_prev_hash
    return manifest


def manifest_line(manifest: Mapping[str, Any]) -> str:
    """``{"manifest": {...}}`` as one canonical JSON line: an NDJSON export's last line, a CSV sidecar."""
    return _canonical_text({"manifest": dict(manifest)}) + "\n"


def parse_manifest_document(text: str) -> dict[str, Any]:
    """The manifest inside a ``{"manifest": {...}}`` document (a line or a sidecar file's content)."""
    try:
        document = _DECODER.decode(text)
    except (ValueError, RecursionError) as exc:
        raise AuditFormatError("the manifest is not valid JSON") from exc
    if type(document) is not dict or set(document) != {"manifest"} or type(document["manifest"]) is not dict:
        raise AuditFormatError('the manifest must be {"manifest": {...}}')
    manifest: dict[str, Any] = document["manifest"]
    return manifest


@dataclass(frozen=True, slots=True)
class _Manifest:
    tenant_id: str
    events: int
    first_seq: int
    last_seq: int  # first_seq - 1 when the export is empty
    head_hash: str | None
    anchor: str
    checkpoints: dict[int, list[Mapping[str, Any]]]
    public_keys: Mapping[str, Any]


_NO_MANIFEST = _Manifest("", 0, 1, 0, None, GENESIS_HASH, {}, {})


def _optional_seq(manifest: Mapping[str, Any], name: str) -> int | None:
    value = manifest.get(name)
    if value is None or (type(value) is int and 1 <= value <= MAX_SAFE_INT):
        return value
    raise AuditFormatError(f"manifest {name} must be a positive integer")


def _parse_counts(manifest: Mapping[str, Any]) -> tuple[int, int, int]:
    events, first, last = manifest.get("events"), _optional_seq(manifest, "first_seq"), _optional_seq(
        manifest, "last_seq"
    )
    if type(events) is not int or events < 0:
        raise AuditFormatError("manifest events must be a non-negative integer")
    if events == 0 and last is None:
        return 0, first or 1, (first or 1) - 1
    if first is None or last is None or last - first + 1 != events:
        raise AuditFormatError("manifest events, first_seq and last_seq disagree")
    return events, first, last


def _parse_anchor(manifest: Mapping[str, Any], first_seq: int) -> str:
    anchor = manifest.get("anchor_prev_hash")
    if anchor is None and first_seq > 1:
        raise AuditFormatError("manifest lacks anchor_prev_hash for a range not starting at seq 1")
    if anchor is None:
        return GENESIS_HASH
    if not is_hash(anchor) or (first_seq == 1 and anchor != GENESIS_HASH):
        raise AuditFormatError("manifest anchor_prev_hash is not a valid hash")
    return anchor  # type: ignore[no-any-return]


def _parse_checkpoints(raw: object) -> dict[int, list[Mapping[str, Any]]]:
    if type(raw) is not list:
        raise AuditFormatError("manifest checkpoints must be a list")
    by_seq: dict[int, list[Mapping[str, Any]]] = {}
    for checkpoint in raw:
        if type(checkpoint) is not dict or not _checkpoint_shape_ok(checkpoint) or (
            type(checkpoint.get("key_id")) is not str
        ):
            raise AuditFormatError("a manifest checkpoint is malformed")
        by_seq.setdefault(checkpoint["seq"], []).append(checkpoint)
    return by_seq


def _parse_manifest(manifest: object) -> _Manifest:
    if not isinstance(manifest, Mapping):
        raise AuditFormatError("the manifest is not a JSON object")
    tenant_id, head_hash, keys = manifest.get("tenant_id"), manifest.get("head_hash"), manifest.get("public_keys")
    if type(tenant_id) is not str:
        raise AuditFormatError("manifest tenant_id must be a string")
    events, first, last = _parse_counts(manifest)
    if not (is_hash(head_hash) or (events == 0 and head_hash is None)):
        raise AuditFormatError("manifest head_hash is not a valid hash")
    if not isinstance(keys, Mapping):
        raise AuditFormatError("manifest public_keys must be an object")
    checkpoints = _parse_checkpoints(manifest.get("checkpoints"))
    return _Manifest(tenant_id, events, first, last, head_hash, _parse_anchor(manifest, first), checkpoints, keys)


# --- verification -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """The verdict on a chain; ``head_hash`` is the last event verified good (or the anchor).

    ``first_invalid`` is ``{"seq", "reason"}`` (``seq`` None for a malformed manifest); ``keys`` maps
    each key_id that verified a checkpoint to its fingerprint (see ``key_fingerprint``).
    """

    valid: bool
    events: int
    head_hash: str
    checkpoints: int
    first_invalid: dict[str, Any] | None = None
    keys: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The shape of ``GET /v1/tenants/{tenant_id}/audit/verify``."""
        body: dict[str, Any] = {
            "valid": self.valid, "events": self.events, "head_hash": self.head_hash,
            "checkpoints": self.checkpoints,
        }
        if self.first_invalid is not None:
            body["first_invalid"] = dict(self.first_invalid)
        return body


class ChainVerifier:
    """Checks one tenant's exported chain event by event, oldest first, in constant memory.

    Give it the manifest, feed the events (``feed`` for objects, ``feed_line`` for NDJSON lines),
    then call ``finish``. It stops at the first problem: from then on ``feed*`` only count events and
    return False. ``trusted_keys`` (PEM) pins the signing keys; without it the manifest's own
    ``public_keys`` are believed, so compare ``VerifyResult.keys`` with the published keys (a trusted
    key that is not a PEM P-256 public key raises ``AuditFormatError``).
    """

    def __init__(self, manifest: Mapping[str, Any], trusted_keys: Iterable[str] | None = None) -> None:
        self._count = 0
        self._signed = 0
        self._problem: dict[str, Any] | None = None
        self._keys_used: dict[str, str] = {}
        self._keys: dict[str, ec.EllipticCurvePublicKey | None] = {}
        self._canonical_details: set[bytes] = set()
        self._trusted = None if trusted_keys is None else _fingerprints(trusted_keys)
        try:
            self._m = _parse_manifest(manifest)
        except AuditFormatError as exc:
            self._m = _NO_MANIFEST
            self._fail(None, str(exc))
        self._expected = self._m.first_seq
        self._head = self._m.anchor
        self._check_checkpoint_range()

    @property
    def valid(self) -> bool:
        """No problem found so far."""
        return self._problem is None

    def reject(self, reason: str) -> None:
        """Record an unreadable event (garbled line or row) at the position where one was due."""
        self._count += 1
        self._fail(self._expected, reason)

    def feed(self, event: Mapping[str, Any]) -> bool:
        """Check the next event (a JSON object as exported); False once the chain is found invalid."""
        if self._problem is not None:
            self._count += 1
            return False
        if not isinstance(event, Mapping):
            self.reject("the event is not a JSON object")
            return False
        body = {key: value for key, value in event.items() if key != "hash"}
        return self._accept(body, event.get("hash"), _digest(body, None))

    def feed_line(self, line: str | bytes) -> bool:
        """Check the next NDJSON line (UTF-8 JSON object, trailing newline allowed)."""
        if self._problem is not None:
            self._count += 1
            return False
        try:
            fast = _fast_line(line if isinstance(line, bytes) else line.encode("utf-8"), self._canonical_details)
            if fast is not None:
                return self._accept_fields(*fast)
            event, plain = _parse_json(line.decode("utf-8") if isinstance(line, bytes) else line)
        except (ValueError, RecursionError):
            self.reject("the line is not valid UTF-8 JSON")
            return False
        if type(event) is not dict:
            self.reject("the line is not a JSON object")
            return False
        claimed = event.pop("hash", None)
        return self._accept(event, claimed, _digest(event, plain))

    def feed_run(self, tenant_id: str, first_seq: int, prev_hash: str, count: int, last_hash: str,
                 heads: Mapping[int, str]) -> bool:
        """Accept ``count`` consecutive events from ``first_seq`` whose hashes and inner links were checked
        elsewhere (``chalicelib.cli.parallel_verify``): checks where the run sits in the chain, then each
        checkpoint inside it against ``heads`` (seq -> the event's hash at that seq)."""
        if self._problem is not None or count < 1:
            self._count += count
            return False
        last_seq = first_seq + count - 1
        self._count += 1
        reason = self._position_problem(tenant_id, first_seq, prev_hash)
        if reason is None and last_seq > self._m.last_seq:
            reason = f"the event lies after the manifest's last_seq {self._m.last_seq}"
        self._count += count - 1
        if reason is not None:
            return self._fail(first_seq, reason)
        for seq in sorted(s for s in self._m.checkpoints if first_seq <= s <= last_seq):
            if seq not in heads:
                return self._fail(seq, "the run lacks the head at a checkpoint")
            self._head = heads[seq]
            reason = self._checkpoints_problem(seq, self._m.checkpoints[seq])
            if reason is not None:
                return self._fail(seq, reason)
        self._head, self._expected = last_hash, last_seq + 1
        return True

    def finish(self) -> VerifyResult:
        """The verdict, after the end-of-export checks (count, head, checkpoint at the last event)."""
        if self._problem is None:
            self._check_end()
        return VerifyResult(
            valid=self._problem is None, events=self._count, head_hash=self._head,
            checkpoints=self._signed, first_invalid=self._problem, keys=dict(self._keys_used),
        )

    def _fail(self, seq: int | None, reason: str) -> bool:
        if self._problem is None:
            self._problem = {"seq": seq, "reason": reason}
        return False

    def _accept(self, body: Mapping[str, Any], claimed: object, digest: str | None) -> bool:
        return self._accept_fields(body.get("tenant_id"), body.get("seq"), body.get("prev_hash"), claimed, digest)

    def _accept_fields(self, tenant_id: object, seq: object, prev_hash: object, claimed: object,
                       digest: str | None) -> bool:
        """Check one event given its chain fields and the digest of its canonical body (None: none)."""
        self._count += 1
        if type(seq) is not int:
            return self._fail(self._expected, "seq is missing or not an integer")
        reason = self._position_problem(tenant_id, seq, prev_hash)
        if reason is None and digest != claimed:
            reason = "the event cannot be canonicalized (RFC 8785)" if digest is None else (
                "hash does not match the event's content")
        if reason is not None:
            return self._fail(seq, reason)
        self._head = digest  # type: ignore[assignment]  # == claimed, and not None
        self._expected = seq + 1
        checkpoints = self._m.checkpoints.get(seq)
        reason = None if checkpoints is None else self._checkpoints_problem(seq, checkpoints)
        return True if reason is None else self._fail(seq, reason)

    def _position_problem(self, tenant_id: object, seq: int, prev_hash: object) -> str | None:
        if tenant_id != self._m.tenant_id:
            return "the event belongs to another tenant"
        if seq != self._expected:
            return self._order_problem(seq)
        if seq > self._m.last_seq:
            return f"the event lies after the manifest's last_seq {self._m.last_seq}"
        if prev_hash != self._head:
            where = "the manifest's anchor" if self._count == 1 else f"the hash of seq {seq - 1}"
            return f"prev_hash does not match {where}"
        return None

    def _order_problem(self, seq: int) -> str:
        expected = self._expected
        if self._count == 1:
            return f"the export starts at seq {seq} but the manifest says first_seq {expected}"
        if seq < expected:
            return f"seq {seq} comes again or out of order (expected {expected}): an event was inserted or moved"
        return f"seq {expected} is missing here (found {seq}): an event was deleted or moved"

    def _checkpoints_problem(self, seq: int, checkpoints: list[Mapping[str, Any]]) -> str | None:
        for checkpoint in checkpoints:
            if checkpoint["tenant_id"] != self._m.tenant_id:
                return f"the checkpoint at seq {seq} is for another tenant"
            if checkpoint["head_hash"] != self._head:
                return f"the checkpoint at seq {seq} does not match the chain (head_hash differs)"
            key_id = checkpoint["key_id"]
            reason = self._key_problem(seq, key_id)
            if reason is not None:
                return reason
            key = self._keys[key_id]
            if key is None or not _signature_ok(checkpoint, key):
                return f"the checkpoint at seq {seq}: signature does not verify"
            self._signed += 1
        return None

    def _key_problem(self, seq: int, key_id: str) -> str | None:
        if key_id not in self._keys:
            pem = self._m.public_keys.get(key_id)
            self._keys[key_id] = _load_p256(pem) if isinstance(pem, str) else None
        key = self._keys[key_id]
        if key is None:
            what = "that is not EC P-256" if key_id in self._m.public_keys else "not in public_keys"
            return f"the checkpoint at seq {seq} names a key {what}"
        fingerprint = key_fingerprint(key)
        if self._trusted is not None and fingerprint not in self._trusted:
            return f"the checkpoint at seq {seq} is signed by an untrusted key"
        self._keys_used[key_id] = fingerprint
        return None

    def _check_checkpoint_range(self) -> None:
        outside = [s for s in self._m.checkpoints if not self._m.first_seq <= s <= self._m.last_seq]
        if outside:
            seq = min(outside)
            self._fail(seq, f"the checkpoint at seq {seq} lies outside the exported range")

    def _check_end(self) -> None:
        m, last_seen = self._m, self._expected - 1
        if last_seen < m.last_seq:
            self._fail(last_seen + 1, f"the export ends at seq {last_seen} but the manifest says last_seq "
                                      f"{m.last_seq}: events were cut from the end")
        elif m.events and m.head_hash != self._head:
            self._fail(m.last_seq, "the manifest's head_hash does not match the last event's hash")
        elif m.events and m.last_seq not in m.checkpoints:
            self._fail(m.last_seq, "no signed checkpoint at the last event")


def _digest(body: Mapping[str, Any], plain: bool | None) -> str | None:
    """SHA-256 (hex) of the canonical JSON of an event's body; None when it has none."""
    try:
        return hashlib.sha256(_canonical_bytes(body, plain)).hexdigest()
    except (ValueError, TypeError, RecursionError):
        return None


# The event shape as ``event_line`` writes it, for lines in exactly that form (ASCII, no escapes
# outside ``details``). Such a line is the RFC 8785 form of its own parse: members in sorted order,
# strings of printable ASCII (written raw by JCS), seq a canonical integer, and ``details`` checked
# separately to be canonical. So the canonical body is the line minus its ``"hash":"…",`` member,
# and no parsing or re-serialization is needed. Any other line takes the general path.
_RAW = r'"[^"\\\x00-\x1f]*"'
_FAST_EVENT = re.compile((
    r'\{"action":' + _RAW + r',"actor":\{"role":' + _RAW + r',"sub":' + _RAW + r'\},"at":' + _RAW
    + r',"details":(\{.*?\}),"hash":"([0-9a-f]{64})","outcome":' + _RAW + r',"prev_hash":"([0-9a-f]{64})"'
    + r',"region":' + _RAW + r',"request_id":' + _RAW + r',"resource":' + _RAW
    + r',"seq":([1-9][0-9]{0,15}),"tenant_id":"([^"\\\x00-\x1f]*)"\}'
).encode("ascii"))
_FAST_MAX = 8192  # longer lines take the general path (bounds the regex's backtracking on crafted lines)
_DETAILS_CACHE = 4096


def _fast_line(data: bytes, canonical_details: set[bytes]) -> tuple[str, int, str, str, str] | None:
    """``(tenant_id, seq, prev_hash, hash, digest of the body)`` of a line in the exact exported
    form, or None (then parse it). ``canonical_details`` remembers details texts found canonical."""
    end = len(data) - 1 if data.endswith(b"\n") else len(data)
    match = _FAST_EVENT.fullmatch(data, 0, end) if end <= _FAST_MAX and data.isascii() else None
    if match is None:
        return None
    details, claimed, prev_hash, seq_text, tenant_id = match.groups()
    seq = int(seq_text)
    if seq > MAX_SAFE_INT or not _is_canonical_object(details, canonical_details):
        return None
    body = data[: match.start(2) - 8] + data[match.end(2) + 2: end]  # without '"hash":"<64 hex>",'
    return (tenant_id.decode("ascii"), seq, prev_hash.decode("ascii"), claimed.decode("ascii"),
            hashlib.sha256(body).hexdigest())


def _is_canonical_object(data: bytes, known: set[bytes]) -> bool:
    """Whether the ASCII ``data`` is the canonical JSON of a plain JSON object."""
    if data in known:
        return True
    text = data.decode("ascii")
    try:
        value = _PLAIN_DECODER.decode(text)
    except (_NotPlain, ValueError, RecursionError):
        return False
    if type(value) is not dict or _ENCODER.encode(value) != text:
        return False
    if len(known) >= _DETAILS_CACHE:
        known.clear()
    known.add(data)
    return True


def _fingerprints(pems: Iterable[str]) -> set[str]:
    found = set()
    for pem in pems:
        key = _load_p256(pem)
        if key is None:
            raise AuditFormatError("a trusted key is not a PEM EC P-256 public key")
        found.add(key_fingerprint(key))
    return found


def verify_chain(
    events: Iterable[Mapping[str, Any]], manifest: Mapping[str, Any], trusted_keys: Iterable[str] | None = None
) -> VerifyResult:
    """Verify ``events`` (oldest first) against ``manifest``; stops reading at the first problem."""
    verifier = ChainVerifier(manifest, trusted_keys)
    for event in events:
        if not verifier.feed(event):
            break
    return verifier.finish()


# --- exports ----------------------------------------------------------------------------------


@dataclass(slots=True)
class ExportTally:
    """What an export wrote so far: the figures its manifest needs."""

    events: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    head_hash: str | None = None
    anchor_prev_hash: str | None = None

    def add(self, event: Mapping[str, Any]) -> None:
        if self.first_seq is None:
            self.first_seq, self.anchor_prev_hash = event["seq"], event["prev_hash"]
        self.events += 1
        self.last_seq, self.head_hash = event["seq"], event["hash"]


ManifestSource = Mapping[str, Any] | Callable[[ExportTally], Mapping[str, Any]]


def event_line(event: Mapping[str, Any]) -> str:
    """One NDJSON line: the event's canonical JSON (``hash`` included) and a newline."""
    return _canonical_text(event if type(event) is dict else dict(event)) + "\n"


def ndjson_lines(events: Iterable[Mapping[str, Any]], manifest: ManifestSource) -> Iterator[str]:
    """Stream an NDJSON export: one line per event, then the manifest line.

    ``manifest`` is the manifest, or a function called after the last event with the export's
    ``ExportTally`` (to sign the final checkpoint and build the manifest once the figures are known).
    """
    tally = ExportTally()
    for event in events:
        tally.add(event)
        yield event_line(event)
    yield manifest_line(manifest(tally) if callable(manifest) else manifest)


def csv_header() -> list[str]:
    """The CSV export's header row (the event's members, in exported order)."""
    return list(CSV_COLUMNS)


def csv_row(event: Mapping[str, Any]) -> list[str]:
    """One CSV row: strings as is, ``seq`` in decimal, ``actor`` and ``details`` as canonical JSON."""
    if set(event) != set(CSV_COLUMNS):
        raise AuditFormatError("the event's members do not match the CSV columns")
    row = []
    for column in CSV_COLUMNS:
        value = event[column]
        if column == "seq" and type(value) is int:
            row.append(str(value))
        elif column in _NESTED_COLUMNS and type(value) is dict:
            row.append(_canonical_text(value))
        elif column != "seq" and column not in _NESTED_COLUMNS and type(value) is str:
            row.append(value)
        else:
            raise AuditFormatError(f"the event's {column} cannot be written to CSV")
    return row


def csv_lines(events: Iterable[Mapping[str, Any]], tally: ExportTally | None = None) -> Iterator[str]:
    """Stream a CSV export (RFC 4180, CRLF): the header, then a row per event; fills ``tally``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in _header_then_rows(events, tally):
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(row)
        yield buffer.getvalue()


def _header_then_rows(events: Iterable[Mapping[str, Any]], tally: ExportTally | None) -> Iterator[list[str]]:
    yield csv_header()
    for event in events:
        if tally is not None:
            tally.add(event)
        yield csv_row(event)


def csv_event(row: Sequence[str]) -> dict[str, Any]:
    """The event a CSV row was written from, value for value (so its hash still verifies)."""
    if len(row) != len(CSV_COLUMNS):
        raise AuditFormatError(f"the row has {len(row)} cells, not {len(CSV_COLUMNS)}")
    event: dict[str, Any] = dict(zip(CSV_COLUMNS, row, strict=True))
    if _SEQ_TEXT.fullmatch(event["seq"]) is None:
        raise AuditFormatError("seq is not a positive integer")
    event["seq"] = int(event["seq"])
    for column in _NESTED_COLUMNS:
        try:
            value, _ = _parse_json(event[column])
        except (ValueError, RecursionError) as exc:
            raise AuditFormatError(f"{column} is not valid JSON") from exc
        if type(value) is not dict:
            raise AuditFormatError(f"{column} is not a JSON object")
        event[column] = value
    return event


def read_csv_events(rows: Iterable[Sequence[str]]) -> Iterator[dict[str, Any]]:
    """The events of a CSV export's rows (``csv.reader`` output), header first."""
    iterator = iter(rows)
    if list(next(iterator, [])) != csv_header():
        raise AuditFormatError("the first row is not the audit CSV header")
    for row in iterator:
        yield csv_event(row)


def csv_sidecar_path(csv_path: str) -> str:
    """Where a CSV export's manifest lives: ``trail.csv`` -> ``trail.csv.manifest.json``."""
    return csv_path + ".manifest.json"
