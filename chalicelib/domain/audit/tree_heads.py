"""Signed Merkle tree heads and the proof documents built on them (RFC 9162 / Certificate Transparency style).

A tree head states that at time ``at`` the log had ``tree_size`` events with Merkle tree hash
``root_hash`` (``chalicelib.domain.audit.merkle``, over the tenant's first ``tree_size`` event hashes). It is
signed (base64 DER ECDSA P-256, KMS ``ECDSA_SHA_256``) over RFC 8785 canonical JSON. Two formats:

- version 2 (signed now): ``{"version": 2, "tenant_id", "region", "stage", "tree_size", "root_hash",
  "at", "key_id", "signature"}``, signing every member but ``signature``: the head names its log
  (tenant, region, stage), its format and its key;
- version 1 (older heads and exports, still verified): ``{"tenant_id", "tree_size", "root_hash", "at",
  "key_id", "signature"}``, signing ``{"tenant_id", "tree_size", "root_hash", "at"}``.

Member names differ from a checkpoint's (``seq``, ``head_hash``), so one signed statement can never
be read as the other.

An inclusion document proves one event without any other: the event itself, the signed head, the
audit path and the public keys. A consistency document proves that a later head extends an earlier
one. ``check_inclusion`` and ``check_consistency`` verify them offline (no I/O, no boto3) and say, in
one sentence, the first thing wrong.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from chalicelib.domain.audit import merkle
from chalicelib.domain.audit.canonical import MAX_SAFE_INT, canonical_bytes, event_hash, is_hash
from chalicelib.domain.audit.keyset import PublishedKeys
from chalicelib.domain.audit.signing import fingerprints, key_fingerprint, load_p256

TREE_HEAD_FIELDS = ("tenant_id", "tree_size", "root_hash", "at", "key_id", "signature")
"""The members of a version 1 head (no ``version`` member)."""
HEAD_VERSION = 2
TREE_HEAD_V2_FIELDS = ("version", "tenant_id", "region", "stage", "tree_size", "root_hash", "at", "key_id",
                       "signature")


def tree_head_payload(tenant_id: str, tree_size: int, root_hash: str, at: str) -> bytes:
    """The bytes a version 1 tree head signs: canonical JSON of ``{"tenant_id", "tree_size", "root_hash", "at"}``."""
    return canonical_bytes({"tenant_id": tenant_id, "tree_size": tree_size, "root_hash": root_hash, "at": at})


@dataclass(frozen=True, slots=True)
class LogId:
    """Which log a head belongs to: one tenant's trail in one regional deployment."""

    tenant_id: str
    region: str
    stage: str


def signed_head_body(log: LogId, tree_size: int, root_hash: str, at: str, key_id: str) -> dict[str, Any]:
    """A version 2 head without its signature (``head_payload`` of it is what is signed)."""
    return {"version": HEAD_VERSION, "tenant_id": log.tenant_id, "region": log.region, "stage": log.stage,
            "tree_size": tree_size, "root_hash": root_hash, "at": at, "key_id": key_id}


def head_fields(head: Mapping[str, Any]) -> tuple[str, ...]:
    """The members of ``head``'s format."""
    return TREE_HEAD_V2_FIELDS if "version" in head else TREE_HEAD_FIELDS


def head_payload(head: Mapping[str, Any]) -> bytes:
    """The bytes ``head`` signs, in its own format."""
    if "version" in head:
        return canonical_bytes({name: head[name] for name in TREE_HEAD_V2_FIELDS if name != "signature"})
    return tree_head_payload(head["tenant_id"], head["tree_size"], head["root_hash"], head["at"])


def tree_head_record(*, tenant_id: str, tree_size: int, root_hash: str, at: str, key_id: str,
                     signature: str) -> dict[str, Any]:
    """A signed tree head from a base64 DER signature."""
    return {"tenant_id": tenant_id, "tree_size": tree_size, "root_hash": root_hash, "at": at,
            "key_id": key_id, "signature": signature}


@dataclass(frozen=True, slots=True)
class ProofResult:
    """The verdict on a proof document; ``keys`` maps each key_id that verified a head to its fingerprint."""

    valid: bool
    reason: str | None = None
    keys: dict[str, str] = field(default_factory=dict)


class _Refused(Exception):
    """The first problem found, as one sentence without event data."""


def _head_shape(head: object, name: str) -> Mapping[str, Any]:
    if not isinstance(head, Mapping) or set(head) != set(head_fields(head)):
        raise _Refused(f"the {name} is not a tree head {{{', '.join(TREE_HEAD_V2_FIELDS)}}} "
                       f"(or, before version 2, {{{', '.join(TREE_HEAD_FIELDS)}}})")
    if "version" in head and (head["version"] != HEAD_VERSION or type(head["version"]) is not int or not all(
            type(head[part]) is str for part in ("region", "stage"))):
        raise _Refused(f"the {name} is of an unknown version or its region and stage are not strings")
    size = head["tree_size"]
    if type(size) is not int or not 0 <= size <= MAX_SAFE_INT:
        raise _Refused(f"the {name}'s tree_size is not a non-negative integer")
    if not is_hash(head["root_hash"]):
        raise _Refused(f"the {name}'s root_hash is not 64 lower-case hex digits")
    if not all(type(head[name_]) is str for name_ in ("tenant_id", "at", "key_id", "signature")):
        raise _Refused(f"the {name}'s tenant_id, at, key_id and signature must be strings")
    return head


class _Keys:
    """The document's public keys, optionally pinned to trusted ones or checked against the published key
    set (then the published key verifies, not the document's); remembers which verified a head."""

    def __init__(self, public_keys: object, trusted: Iterable[str] | None,
                 published: PublishedKeys | None = None) -> None:
        if not isinstance(public_keys, Mapping):
            raise _Refused("the document's public_keys must be an object")
        self._pems = public_keys
        self._trusted = None if trusted is None else fingerprints(trusted)
        self._published = published
        self.used: dict[str, str] = {}

    def check(self, head: Mapping[str, Any], name: str) -> None:
        if self._published is not None:
            problem = self._published.problem(head["key_id"], head["at"], f"the {name}")
            if problem is not None:
                raise _Refused(problem)
            key = self._published.key(head["key_id"])
        else:
            pem = self._pems.get(head["key_id"])
            key = load_p256(pem) if isinstance(pem, str) else None
        if key is None:
            raise _Refused(f"the {name} names a key that is not an EC P-256 key in public_keys")
        fingerprint = key_fingerprint(key)
        if self._trusted is not None and fingerprint not in self._trusted:
            raise _Refused(f"the {name} is signed by an untrusted key")
        if not _signature_ok(head, key):
            raise _Refused(f"the {name}'s signature does not verify: it was altered or not signed by that key")
        self.used[head["key_id"]] = fingerprint


def _signature_ok(head: Mapping[str, Any], key: ec.EllipticCurvePublicKey) -> bool:
    payload = head_payload(head)
    try:
        key.verify(base64.b64decode(head["signature"], validate=True), payload, ec.ECDSA(hashes.SHA256()))
    except (ValueError, InvalidSignature):
        return False
    return True


def tree_head_problem(head: object) -> str | None:
    """What is wrong with the shape of ``head`` (one sentence), or None."""
    try:
        _head_shape(head, "tree head")
    except _Refused as exc:
        return str(exc)
    return None


def tree_head_signature_ok(head: Mapping[str, Any], key: ec.EllipticCurvePublicKey) -> bool:
    """Whether the well-formed ``head`` is validly signed by ``key``."""
    return _signature_ok(head, key)


def verify_tree_head_signature(head: Mapping[str, Any], public_key_pem: str) -> bool:
    """Whether ``head`` is a well-formed tree head validly signed by that key."""
    try:
        _Keys({head.get("key_id"): public_key_pem}, None).check(_head_shape(head, "tree head"), "tree head")
    except _Refused:
        return False
    return True


def _proof_nodes(document: Mapping[str, Any], name: str) -> list[str]:
    nodes = document.get(name)
    if type(nodes) is not list or not all(is_hash(node) for node in nodes):
        raise _Refused(f"the document's {name} must be a list of 64-hex-digit node hashes")
    return nodes


def _verdict(check: Any, *args: Any) -> ProofResult:
    try:
        keys = check(*args)
    except _Refused as exc:
        return ProofResult(False, str(exc))
    return ProofResult(True, None, keys)


def check_inclusion(document: object, trusted_keys: Iterable[str] | None = None,
                    published: PublishedKeys | None = None) -> ProofResult:
    """Verify an inclusion document (``GET .../audit/proof``): the event is intact, the head is signed
    (by a published key valid at the head's time, when ``published`` is given), and the audit path
    leads from the event's hash at ``seq - 1`` to the head's ``root_hash``."""
    return _verdict(_check_inclusion, document, trusted_keys, published)


def _check_inclusion(document: object, trusted_keys: Iterable[str] | None,
                     published: PublishedKeys | None) -> dict[str, str]:
    if not isinstance(document, Mapping):
        raise _Refused("the proof is not a JSON object")
    event, head = document.get("event"), _head_shape(document.get("tree_head"), "tree head")
    if not isinstance(event, Mapping) or type(event.get("seq")) is not int or not is_hash(event.get("hash")):
        raise _Refused("the proof's event is not an audit event with seq and hash")
    if event_hash(event) != event["hash"]:
        raise _Refused(f"the event at seq {event['seq']} does not match its hash: it was edited after sealing")
    if not event.get("tenant_id") == head["tenant_id"] == document.get("tenant_id"):
        raise _Refused("the event, the tree head and the document name different tenants")
    seq, size = event["seq"], head["tree_size"]
    if document.get("seq") != seq or document.get("leaf_index") != seq - 1:
        raise _Refused("the document's seq and leaf_index do not match the event's seq")
    if not 1 <= seq <= size:
        raise _Refused(f"the event's seq {seq} lies outside the signed tree of size {size}")
    nodes = _proof_nodes(document, "inclusion_proof")
    keys = _Keys(document.get("public_keys"), trusted_keys, published)
    keys.check(head, "tree head")
    if not merkle.verify_inclusion(event["hash"], seq - 1, size, nodes, head["root_hash"]):
        raise _Refused(f"the inclusion proof does not lead to the signed root_hash: the event is not at seq {seq} "
                       f"of this tree (forged proof or rewritten trail)")
    return keys.used


def check_consistency(document: object, trusted_keys: Iterable[str] | None = None,
                      previous: Mapping[str, Any] | None = None,
                      published: PublishedKeys | None = None) -> ProofResult:
    """Verify a consistency document (``GET .../audit/consistency``): both heads signed, of one tenant, and
    the second tree extends the first. ``previous`` (a head the auditor already holds) must be the first.
    A ``from_size`` bridge (the requested size had no head of its own) must lead to the first head."""
    return _verdict(_check_consistency, document, trusted_keys, previous, published)


def _check_consistency(document: object, trusted_keys: Iterable[str] | None,
                       previous: Mapping[str, Any] | None, published: PublishedKeys | None) -> dict[str, str]:
    if not isinstance(document, Mapping):
        raise _Refused("the proof is not a JSON object")
    first = _head_shape(document.get("first_head"), "first tree head")
    second = _head_shape(document.get("second_head"), "second tree head")
    if not first["tenant_id"] == second["tenant_id"] == document.get("tenant_id"):
        raise _Refused("the two tree heads and the document name different tenants")
    nodes = _proof_nodes(document, "consistency_proof")
    keys = _Keys(document.get("public_keys"), trusted_keys, published)
    keys.check(first, "first tree head")
    keys.check(second, "second tree head")
    if previous is not None:
        held = _head_shape(previous, "previous tree head")
        if (held["tenant_id"], held["tree_size"], held["root_hash"]) != (
                first["tenant_id"], first["tree_size"], first["root_hash"]):
            raise _Refused(f"the first tree head (size {first['tree_size']}) is not the head you hold "
                           f"(size {held['tree_size']}): ask for a proof from the head you hold")
    if first["tree_size"] > second["tree_size"]:
        raise _Refused("the first tree head is larger than the second: a log only grows")
    if first["tree_size"] == 0 or not merkle.verify_consistency(
            first["tree_size"], first["root_hash"], second["tree_size"], second["root_hash"], nodes):
        raise _Refused(f"the second tree head (size {second['tree_size']}) does not extend the first "
                       f"(size {first['tree_size']}): the trail was rewritten between them, or the proof is forged")
    _check_bridge(document.get("from_bridge"), first)
    return keys.used


def _check_bridge(bridge: object, first: Mapping[str, Any]) -> None:
    """``{"tree_size", "root_hash", "consistency_proof"}``: the tree at the size asked for (which has no
    signed head of its own) is a prefix of the first head's tree."""
    if bridge is None:
        return
    if not isinstance(bridge, Mapping) or type(bridge.get("tree_size")) is not int or not is_hash(
            bridge.get("root_hash")):
        raise _Refused("the document's from_bridge is not {tree_size, root_hash, consistency_proof}")
    size, nodes = bridge["tree_size"], _proof_nodes(bridge, "consistency_proof")
    if not 1 <= size <= first["tree_size"] or not merkle.verify_consistency(
            size, bridge["root_hash"], first["tree_size"], first["root_hash"], nodes):
        raise _Refused(f"the tree of the size asked for ({size}) is not a prefix of the first signed head "
                       f"(size {first['tree_size']})")
