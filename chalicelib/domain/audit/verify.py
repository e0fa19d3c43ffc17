"""Verification of an exported chain, event by event in constant memory, against its manifest.

Fast path: an NDJSON line in exactly the form ``event_line`` writes is checked without parsing (see
``_FAST_EVENT``); tests in ``tests/unit/domain/test_audit_chain.py`` check it against the general path.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from chalicelib.domain.audit.canonical import (
    _ENCODER,
    _PLAIN_DECODER,
    MAX_SAFE_INT,
    AuditFormatError,
    _canonical_bytes,
    _NotPlain,
    _parse_json,
)
from chalicelib.domain.audit.keyset import PublishedKeys
from chalicelib.domain.audit.manifest import _NO_MANIFEST, _parse_manifest
from chalicelib.domain.audit.merkle import MerkleAccumulator
from chalicelib.domain.audit.signing import fingerprints, key_fingerprint, load_p256, signature_ok
from chalicelib.domain.audit.tree_heads import tree_head_signature_ok


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """The verdict on a chain; ``head_hash`` is the last event verified good (or the anchor).

    ``first_invalid`` is ``{"seq", "reason"}`` (``seq`` None for a malformed manifest); ``keys`` maps
    each key_id that verified a checkpoint to its fingerprint (see ``key_fingerprint``); ``tree_head``
    is the size of the manifest's signed Merkle tree head when there was one and it verified.
    """

    valid: bool
    events: int
    head_hash: str
    checkpoints: int
    first_invalid: dict[str, Any] | None = None
    keys: dict[str, str] = field(default_factory=dict)
    tree_head: int | None = None

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
    key that is not a PEM P-256 public key raises ``AuditFormatError``). ``published`` (the region's key
    set) checks each signature against it instead: its key id published, its time within the key's validity.
    """

    def __init__(self, manifest: Mapping[str, Any], trusted_keys: Iterable[str] | None = None,
                 published: PublishedKeys | None = None) -> None:
        self._published = published
        self._count = 0
        self._signed = 0
        self._problem: dict[str, Any] | None = None
        self._keys_used: dict[str, str] = {}
        self._keys: dict[str, ec.EllipticCurvePublicKey | None] = {}
        self._canonical_details: set[bytes] = set()
        self._trusted = None if trusted_keys is None else fingerprints(trusted_keys)
        try:
            self._m = _parse_manifest(manifest)
        except AuditFormatError as exc:
            self._m = _NO_MANIFEST
            self._fail(None, str(exc))
        self._expected = self._m.first_seq
        self._head = self._m.anchor
        self._tree = MerkleAccumulator() if self._m.tree_head is not None else None
        self._tree_size = self._m.tree_head["tree_size"] if self._m.tree_head is not None else 0
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
            fast = fast_line(line if isinstance(line, bytes) else line.encode("utf-8"), self._canonical_details)
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
                 heads: Mapping[int, str], blocks: Sequence[tuple[int, bytes]] = ()) -> bool:
        """Accept ``count`` consecutive events from ``first_seq`` whose hashes and inner links were checked
        elsewhere (``chalicelib.cli.parallel_verify``): checks where the run sits in the chain, then each
        checkpoint inside it against ``heads`` (seq -> the event's hash at that seq). ``blocks`` are the
        run's Merkle subtrees (``MerkleAccumulator.blocks``) over its events up to the manifest's
        tree_head size, needed when the manifest has a tree_head."""
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
        if self._tree is not None and first_seq <= self._tree_size:
            if sum(size for size, _ in blocks) != min(last_seq, self._tree_size) - first_seq + 1:
                return self._fail(first_seq, "the run lacks its Merkle tree blocks")
            for size, value in blocks:
                self._tree.add_block(size, value)
        return True

    def finish(self) -> VerifyResult:
        """The verdict, after the end-of-export checks (count, head, checkpoint at the last event)."""
        if self._problem is None:
            self._check_end()
        return VerifyResult(
            valid=self._problem is None, events=self._count, head_hash=self._head,
            checkpoints=self._signed, first_invalid=self._problem, keys=dict(self._keys_used),
            tree_head=self._m.tree_head["tree_size"] if self._problem is None and self._m.tree_head else None,
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
        if self._tree is not None and seq <= self._tree_size:
            self._tree.add_event_hash(self._head)
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
            reason = self._key_problem(seq, key_id, checkpoint["at"])
            if reason is not None:
                return reason
            key = self._keys[key_id]
            if key is None or not signature_ok(checkpoint, key):
                return f"the checkpoint at seq {seq}: signature does not verify"
            self._signed += 1
        return None

    def _key_problem(self, seq: int, key_id: str, at: str, subject: str | None = None) -> str | None:
        subject = subject or f"the checkpoint at seq {seq}"
        if self._published is not None:
            problem = self._published.problem(key_id, at, subject)
            if problem is not None:
                return problem
            self._keys[key_id] = self._published.key(key_id)
        elif key_id not in self._keys:
            pem = self._m.public_keys.get(key_id)
            self._keys[key_id] = load_p256(pem) if isinstance(pem, str) else None
        key = self._keys[key_id]
        if key is None:
            what = "that is not EC P-256" if key_id in self._m.public_keys else "not in public_keys"
            return f"{subject} names a key {what}"
        fingerprint = key_fingerprint(key)
        if self._trusted is not None and fingerprint not in self._trusted:
            return f"{subject} is signed by an untrusted key"
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
        elif m.tree_head is not None and self._tree is not None:
            self._check_tree_head(m.tree_head, self._tree)

    def _check_tree_head(self, head: Mapping[str, Any], tree: MerkleAccumulator) -> None:
        """The manifest's signed tree head: a trusted key, a valid signature, the events' Merkle root."""
        seq = self._m.last_seq
        reason = self._key_problem(seq, head["key_id"], head["at"], "the manifest's tree_head")
        key = self._keys.get(head["key_id"])
        if reason is None and (key is None or not tree_head_signature_ok(head, key)):
            reason = "the manifest's tree_head: signature does not verify"
        if reason is None and (tree.end != head["tree_size"] or tree.root().hex() != head["root_hash"]):
            reason = "the manifest's tree_head does not match the events' Merkle tree (root_hash differs)"
        if reason is not None:
            self._fail(seq, reason)


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


def fast_line(data: bytes, canonical_details: set[bytes]) -> tuple[str, int, str, str, str] | None:
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


def verify_chain(
    events: Iterable[Mapping[str, Any]], manifest: Mapping[str, Any], trusted_keys: Iterable[str] | None = None,
    published: PublishedKeys | None = None,
) -> VerifyResult:
    """Verify ``events`` (oldest first) against ``manifest``; stops reading at the first problem."""
    verifier = ChainVerifier(manifest, trusted_keys, published)
    for event in events:
        if not verifier.feed(event):
            break
    return verifier.finish()

