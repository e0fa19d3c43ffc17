"""Crypto-shredding evidence: no key left opens an erased learner's remaining ciphertexts."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from chalicelib.domain.envelopes import FieldCipher, parse_envelope
from chalicelib.domain.errors import IntegrityError
from chalicelib.domain.keys import TenantKeys, WrappedLearnerKey

# ---------------------------------------------------------------------------------------------------
# Crypto-shredding evidence


@dataclass(frozen=True, slots=True)
class ShredReport:
    """What ``verify_shredded`` found: ``shredded`` is true when nothing left decrypts the fields."""

    tenant_id: str
    learner_id: str
    destroyed_fingerprint: str
    keys_tried: int
    fields_tried: int
    key_copies_left: int
    readable_fields: tuple[str, ...]

    @property
    def shredded(self) -> bool:
        return self.key_copies_left == 0 and not self.readable_fields


StoredField = tuple[str, str, str]
"""``(record type, field name, envelope)`` of a ciphertext still held somewhere."""


def _opens(aead: AESGCM, tenant_id: str, learner_id: str, stored: StoredField) -> bool:
    record_type, field_name, envelope = stored
    try:
        version = parse_envelope(envelope)[0]
        FieldCipher._bound(aead, tenant_id, learner_id, version).decrypt_field(record_type, field_name, envelope)
    except (ValueError, IntegrityError):
        return False
    return True


def verify_shredded(destroyed: WrappedLearnerKey, stored_fields: Iterable[StoredField],
                    remaining: Iterable[WrappedLearnerKey], keys: TenantKeys) -> ShredReport:
    """Evidence for an erasure receipt, run after the learner's key record was deleted.

    ``destroyed`` is the deleted record (its fingerprint names the key); ``stored_fields`` are the
    learner's ciphertexts still held (replicas, exports); ``remaining`` are the learner key records
    still stored (of this learner, or the whole tenant for a thorough check). Every remaining key
    that unwraps is tried on every field, with the erased learner's binding. Tenant keys never
    encrypt fields, so they cannot open them. Cost: keys x fields AES-GCM trials.
    """
    fields = list(stored_fields)
    copies, tried, readable = 0, 0, set[str]()
    for record in remaining:
        copies += int(record.fingerprint == destroyed.fingerprint)
        if record.tenant_id != keys.tenant_id:
            continue
        try:
            aead = AESGCM(keys.get(record.tenant_key_version).unwrap_secret(record))
        except IntegrityError:
            continue
        tried += 1
        readable.update(f"{rt}:{fn}" for rt, fn, env in fields
                        if _opens(aead, destroyed.tenant_id, destroyed.learner_id, (rt, fn, env)))
    return ShredReport(destroyed.tenant_id, destroyed.learner_id, destroyed.fingerprint, tried,
                       len(fields), copies, tuple(sorted(readable)))

