"""Constants, encodings, HKDF sub-keys, fingerprints, blind-index tokens and the key provider protocol."""

from __future__ import annotations

import binascii
import hmac
import unicodedata
from collections.abc import Mapping
from typing import NoReturn, Protocol, SupportsIndex

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

ENVELOPE_VERSION = "v1"
KEY_BYTES = 32
NONCE_BYTES = 12
INDEX_BYTES = 16
"""Blind index tokens keep the first 16 bytes (128 bits) of the HMAC."""

_WRAP_INFO = b"enclave/v1/learner-key-wrap"
_INDEX_INFO = b"enclave/v1/blind-index"
_FIELD_AAD = b"enclave/v1/field"
_LEARNER_AAD = b"enclave/v1/learner-key"
_INDEX_MSG = b"enclave/v1/bidx"
_FINGERPRINT_MSG = b"enclave/v1/key-fingerprint"
_PSEUDONYM_INFO = b"enclave/v1/pseudonym"
_RECORD_TAG_INFO = b"enclave/v1/record-tag"
_AAD_CACHE_MAX = 256

_TO_URL = bytes.maketrans(b"+/", b"-_")
_FROM_URL = bytes.maketrans(b"-_+/", b"+/!!")
"""b64url to standard base64; ``+`` and ``/`` become invalid so strict decoding refuses them."""
_PAD = (b"", b"", b"==", b"=")
_B64URL = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
_CANONICAL_LAST: tuple[frozenset[int], ...] = (_B64URL, frozenset(), frozenset(b"AQgw"), frozenset(b"AEIMQUYcgkosw048"))
"""Allowed last character of unpadded b64url text by length % 4 (unused bits must be zero)."""


# ---------------------------------------------------------------------------------------------------
# Provider protocol and small pure helpers


class DataKeyProvider(Protocol):
    """Source of tenant keys: the regional KMS key in production (``adapters.kms``), a fake in tests.

    Failures surface as domain errors (``IntegrityError`` for a blob or context that does not match,
    ``Throttled`` / ``ServiceUnavailable`` when the service cannot answer).
    """

    def generate_data_key(self, context: Mapping[str, str]) -> tuple[bytes, bytes]:
        """A fresh 32-byte key and its wrapped blob, bound to ``context``: ``(plaintext, wrapped)``."""
        ...

    def decrypt_data_key(self, wrapped: bytes, context: Mapping[str, str]) -> bytes:
        """The plaintext of ``wrapped``; the same ``context`` as at generation is required."""
        ...


def tenant_key_context(tenant_id: str, version: int) -> dict[str, str]:
    """The KMS encryption context of a tenant key: names tenant, purpose and key version."""
    return {"tenant_id": tenant_id, "purpose": "tenant-key", "key_version": str(version)}


def _lp(text: str) -> bytes:
    """Length-prefixed UTF-8, so concatenated AAD parts cannot be confused with one another."""
    data = text.encode()
    return len(data).to_bytes(4, "big") + data


def b64url_encode(data: bytes) -> bytes:
    """Unpadded base64url (RFC 4648 section 5)."""
    return binascii.b2a_base64(data, newline=False).translate(_TO_URL).rstrip(b"=")


def b64url_decode(text: bytes) -> bytes:
    """Inverse of ``b64url_encode``; ``ValueError`` for anything but its canonical output."""
    rem = len(text) % 4
    if text and text[-1] not in _CANONICAL_LAST[rem]:
        raise ValueError("not canonical base64url")
    try:
        return binascii.a2b_base64(text.translate(_FROM_URL) + _PAD[rem], strict_mode=True)
    except binascii.Error:
        raise ValueError("not canonical base64url") from None


def derive_subkey(root: bytes, label: bytes, tenant_id: str, version: int) -> bytes:
    """HKDF-SHA256 of a tenant root key for one purpose (``label``), bound to tenant and version."""
    info = label + _lp(tenant_id) + _lp(str(version))
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=info).derive(root)


def key_fingerprint(key: bytes) -> str:
    """A public identifier of a key (HMAC of a constant, 128 bits, hex); reveals nothing of the key."""
    return hmac.digest(key, _FINGERPRINT_MSG, "sha256")[:16].hex()


def _is_email_field(field_name: str) -> bool:
    return field_name == "email" or field_name.endswith((".email", "_email"))


def normalise_for_index(field_name: str, value: str) -> str:
    """The form of ``value`` that is indexed: NFC, stripped; e-mail addresses also lower-cased."""
    text = value.strip()
    if _is_email_field(field_name):
        text = text.lower()
    text = unicodedata.normalize("NFC", text)
    if not text:
        raise ValueError(f"an empty {field_name} cannot be indexed")
    return text


def blind_index(index_key: bytes, field_name: str, value: str) -> str:
    """Keyed HMAC-SHA256 of the normalised value, bound to the field name, truncated, b64url.

    Never an unkeyed hash: without ``index_key`` the token cannot be recomputed from a guess.
    """
    message = _INDEX_MSG + _lp(field_name) + normalise_for_index(field_name, value).encode()
    return b64url_encode(hmac.digest(index_key, message, "sha256")[:INDEX_BYTES]).decode("ascii")


def _check_version(version: int, what: str) -> None:
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"{what} must be a positive integer")


def _check_id(value: str, what: str) -> None:
    if not isinstance(value, str) or not value or "\x00" in value:
        raise ValueError(f"{what} must be a non-empty string")


class _Secret:
    """Mixin of every object holding key material: no pickling (so never stored by accident)."""

    __slots__ = ()

    def __reduce_ex__(self, protocol: SupportsIndex) -> NoReturn:
        raise TypeError(f"{type(self).__name__} holds key material and cannot be serialised")


