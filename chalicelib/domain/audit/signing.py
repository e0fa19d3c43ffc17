"""Signed checkpoints of the chain head: the signed payload, the record, ECDSA P-256 verification.

A checkpoint signs ``{tenant_id, seq, head_hash, at}`` (RFC 8785) with KMS ``ECDSA_SHA_256``; its
``signature`` is base64 of the DER signature. Nothing here does I/O or imports boto3.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from chalicelib.domain.audit.canonical import AuditFormatError, canonical_bytes

CHECKPOINT_FIELDS = ("tenant_id", "seq", "head_hash", "at", "key_id", "signature")


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


def load_p256(public_key_pem_text: str) -> ec.EllipticCurvePublicKey | None:
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


def checkpoint_shape_ok(checkpoint: Mapping[str, Any]) -> bool:
    return all(type(checkpoint.get(name)) is str for name in ("tenant_id", "head_hash", "at", "signature")) and (
        type(checkpoint.get("seq")) is int
    )


def signature_ok(checkpoint: Mapping[str, Any], key: ec.EllipticCurvePublicKey) -> bool:
    if not checkpoint_shape_ok(checkpoint):
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
    key = load_p256(public_key_pem) if isinstance(public_key_pem, str) else None
    return key is not None and signature_ok(checkpoint, key)


def fingerprints(pems: Iterable[str]) -> set[str]:
    found = set()
    for pem in pems:
        key = load_p256(pem)
        if key is None:
            raise AuditFormatError("a trusted key is not a PEM EC P-256 public key")
        found.add(key_fingerprint(key))
    return found

