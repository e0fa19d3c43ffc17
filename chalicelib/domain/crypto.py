"""Field-level envelope encryption, the key hierarchy, blind indexes and crypto-shredding.

Pure domain code: no boto3, no chalice, no storage. The caller's repositories load and store the
*wrapped* keys; this module only ever returns plaintext keys as opaque handles held in memory.

Key hierarchy::

    regional KMS key  --GenerateDataKey(context)-->  tenant key (one per tenant and version)
    tenant key        --HKDF "learner-key-wrap"--->  wrap key  --AES-GCM(AAD)-->  learner key
    tenant key        --HKDF "blind-index"-------->  index key --HMAC-SHA256-->   blind index tokens
    learner key       --AES-256-GCM(AAD)---------->  field envelopes

* A tenant key is 32 bytes from ``DataKeyProvider.generate_data_key`` under the encryption context
  ``tenant_key_context(tenant_id, version)``; only its wrapped form (``WrappedTenantKey``) is stored.
  The root itself is used for nothing but HKDF and is dropped after derivation.
* A learner (subject) key is 32 random bytes, wrapped by its tenant key's wrap key with associated
  data binding tenant, learner, learner key version, tenant key version and the key's fingerprint;
  only its wrapped form (``WrappedLearnerKey``) is stored. Deleting that record shreds the learner.
* A field envelope is ``v1.<learner key version>.<b64url(nonce ‖ ciphertext+tag)>`` (unpadded,
  canonical; the 12-byte random nonce is the first 16 characters of the last part). Its AAD binds
  format version, key version, tenant, learner, record type and field name, so an envelope moved to
  another field, record, learner or tenant fails with ``IntegrityError`` (whose message holds no
  plaintext).
* A blind index token is ``<tenant key version>.<b64url(HMAC-SHA256(index key, field, value)[:16])>``
  over the normalised value (NFC, stripped; e-mail addresses lower-cased). Store the newest
  version's token; look up with every version's token (``blind_index_all``), so records indexed
  before a rotation are still found.
* Rotation adds a tenant key version (``Keyring.rotate``); new learner keys are wrapped by the newest,
  every loaded version still unwraps, ``rewrap`` moves a learner key record to the newest version
  (its field envelopes stay valid: the learner key itself does not change).
* Crypto-shredding: delete every copy of the learner's ``WrappedLearnerKey``; ``verify_shredded``
  then shows that no remaining key opens the learner's remaining ciphertexts (erasure receipt).

Typical use (the repository supplies the stored records)::

    keyring = Keyring(provider)                               # one per process (Lambda container)
    wrapped_tk = keyring.create_tenant_key(tenant_id)         # onboarding: store wrapped_tk
    keys = keyring.tenant_keys(stored_tenant_key_records)     # per request; warm: no KMS call
    learner_key, wrapped_lk = keys.new_learner_key(learner_id)  # enrolment: store wrapped_lk
    item = learner_key.cipher.encrypt_record("learner", {"email": ..., "guardian": {...}})
    learner_key = keys.unwrap(stored_wrapped_lk)              # later reads
    plain = learner_key.cipher.decrypt_record("learner", item)
    email_token = keys.blind_index("email", email)            # store next to the item
    keys.blind_index_all("email", email)                      # look-up: query each token
"""

from __future__ import annotations

import binascii
import hmac
import os
import threading
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Generic, NoReturn, Protocol, SupportsIndex, TypeVar, cast

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from chalicelib.domain.errors import IntegrityError

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


# ---------------------------------------------------------------------------------------------------
# Bounded TTL cache

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    """Thread-safe LRU cache with at most ``max_entries`` entries, each living ``ttl_seconds``.

    The TTL counts from insertion, not from the last use, so a plaintext key never outlives it.
    ``clock`` (monotonic seconds) is injectable for tests.
    """

    def __init__(self, max_entries: int, ttl_seconds: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if max_entries < 1 or ttl_seconds <= 0:
            raise ValueError("max_entries must be >= 1 and ttl_seconds > 0")
        self.max_entries = max_entries
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: K) -> V | None:
        """The live value of ``key`` (now the most recently used), or ``None``."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] > self._clock():
                self._entries.move_to_end(key)
                self.hits += 1
                return entry[1]
            if entry is not None:
                del self._entries[key]
            self.misses += 1
            return None

    def put(self, key: K, value: V) -> None:
        """Store ``value``; evicts expired entries, then the least recently used beyond the bound."""
        with self._lock:
            now = self._clock()
            self._entries[key] = (now + self.ttl_seconds, value)
            self._entries.move_to_end(key)
            expired = [k for k, (deadline, _) in self._entries.items() if deadline <= now]
            for k in expired:
                del self._entries[k]
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def get_or_create(self, key: K, create: Callable[[], V]) -> V:
        """The cached value, or ``create()`` stored. ``create`` runs outside the lock (it may do I/O)."""
        value = self.get(key)
        if value is None:
            value = create()
            self.put(key, value)
        return value

    def discard_if(self, predicate: Callable[[K], bool]) -> int:
        """Remove every entry whose key matches; returns how many were removed."""
        with self._lock:
            doomed = [k for k in self._entries if predicate(k)]
            for k in doomed:
                del self._entries[k]
            return len(doomed)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        """Number of live (unexpired) entries."""
        with self._lock:
            now = self._clock()
            return sum(1 for deadline, _ in self._entries.values() if deadline > now)

    def __repr__(self) -> str:
        return f"TtlCache(entries={len(self)}, max_entries={self.max_entries}, ttl={self.ttl_seconds}s)"


# ---------------------------------------------------------------------------------------------------
# Stored (wrapped) records: safe to persist, hold no plaintext key


@dataclass(frozen=True, slots=True)
class WrappedTenantKey:
    """A tenant key as stored: the KMS blob under ``tenant_key_context(tenant_id, version)``."""

    tenant_id: str
    version: int
    blob: bytes = field(repr=False)

    def __post_init__(self) -> None:
        _check_id(self.tenant_id, "tenant_id")
        _check_version(self.version, "tenant key version")


@dataclass(frozen=True, slots=True)
class WrappedLearnerKey:
    """A learner key as stored: ``blob`` is nonce + AES-GCM(wrap key of ``tenant_key_version``).

    ``fingerprint`` is public (it names the key in an erasure receipt) and bound into the AAD.
    Deleting every copy of this record is the crypto-shredding of the learner.
    """

    tenant_id: str
    learner_id: str
    key_version: int
    tenant_key_version: int
    fingerprint: str
    blob: bytes = field(repr=False)

    def __post_init__(self) -> None:
        _check_id(self.tenant_id, "tenant_id")
        _check_id(self.learner_id, "learner_id")
        _check_version(self.key_version, "learner key version")
        _check_version(self.tenant_key_version, "tenant key version")

    def aad(self) -> bytes:
        """Associated data of the wrapping: every field but the blob."""
        return _learner_key_aad(self.tenant_id, self.learner_id, self.key_version,
                                self.tenant_key_version, self.fingerprint)


def _learner_key_aad(tenant_id: str, learner_id: str, key_version: int, tenant_key_version: int,
                     fingerprint: str) -> bytes:
    return (_LEARNER_AAD + _lp(tenant_id) + _lp(learner_id) + _lp(str(key_version))
            + _lp(str(tenant_key_version)) + _lp(fingerprint))


# ---------------------------------------------------------------------------------------------------
# Field envelopes


PersonalFields = Mapping[str, "str | Mapping[str, str]"]
"""Personal fields of a record: strings, or one level of nested strings (``guardian``)."""
PlainFields = dict[str, "str | dict[str, str]"]


def _integrity(record_type: str, field_name: str, problem: str) -> IntegrityError:
    return IntegrityError(f"field {field_name!r} of a {record_type!r} record {problem}",
                          record_type=record_type, field=field_name)


def parse_envelope(envelope: str) -> tuple[int, bytes, bytes]:
    """``(key version, nonce, ciphertext+tag)`` of ``v1.<key version>.<b64url(nonce + ciphertext)>``.

    ``ValueError`` if malformed. The 12-byte nonce is the first 16 characters of the last part.
    """
    try:
        head, version, body = envelope.encode("ascii").split(b".")
    except (AttributeError, UnicodeEncodeError):
        raise ValueError("not an envelope") from None
    if head != b"v1" or not version.isdigit() or version.startswith(b"0") or len(version) > 9:
        raise ValueError("not a v1 envelope")
    sealed = b64url_decode(body)
    if len(sealed) < NONCE_BYTES + 16:
        raise ValueError("ciphertext too short")
    return int(version), sealed[:NONCE_BYTES], sealed[NONCE_BYTES:]


class _AadTable(dict[str, bytes]):
    """AAD of each field of one record type, built on first use (at most ``_AAD_CACHE_MAX``)."""

    __slots__ = ("prefix",)

    def __init__(self, prefix: bytes) -> None:
        super().__init__()
        self.prefix = prefix

    def __missing__(self, field_name: str) -> bytes:
        aad = self.prefix + _lp(field_name)
        if len(self) < _AAD_CACHE_MAX:
            self[field_name] = aad
        return aad


class FieldCipher(_Secret):
    """AES-256-GCM of one learner's fields, with AAD binding tenant, learner, record type and field.

    Get one from ``LearnerKey.cipher``. The envelope is ``v1.<key version>.<b64url(nonce ‖ ct+tag)>``
    (12-byte random nonce, 16-byte tag); the AAD also covers format and key version. The hot loops
    (``_seal_all``, ``_open_all``) reuse one ``AESGCM`` object, one ``os.urandom`` call per record and
    cached AADs, to stay close to raw AES-GCM.
    """

    __slots__ = ("_aads", "_aead", "_base", "_header", "key_version", "learner_id", "tenant_id")

    def __init__(self, key: LearnerKey) -> None:
        self._bind(key._aead, key.tenant_id, key.learner_id, key.version)

    @classmethod
    def _bound(cls, aead: AESGCM, tenant_id: str, learner_id: str, version: int) -> FieldCipher:
        """A cipher with an arbitrary binding: only for ``verify_shredded``'s trial decryptions."""
        cipher = cls.__new__(cls)
        cipher._bind(aead, tenant_id, learner_id, version)
        return cipher

    def _bind(self, aead: AESGCM, tenant_id: str, learner_id: str, version: int) -> None:
        self._aead = aead
        self.tenant_id, self.learner_id, self.key_version = tenant_id, learner_id, version
        self._header = f"{ENVELOPE_VERSION}.{version}.".encode()
        self._base = _FIELD_AAD + _lp(ENVELOPE_VERSION) + _lp(str(version)) + _lp(tenant_id) + _lp(learner_id)
        self._aads: dict[str, _AadTable] = {}

    def _aad_table(self, record_type: str) -> _AadTable:
        table = self._aads.get(record_type)
        if table is None:
            table = _AadTable(self._base + _lp(record_type))
            if len(self._aads) < _AAD_CACHE_MAX:
                self._aads[record_type] = table
        return table

    def _seal_all(self, record_type: str, flat: Mapping[str, str]) -> dict[str, str]:
        aads, encrypt, header = self._aad_table(record_type), self._aead.encrypt, self._header
        nonces, start, out = os.urandom(NONCE_BYTES * len(flat)), 0, {}
        for name, value in flat.items():
            nonce = nonces[start:start + NONCE_BYTES]
            start += NONCE_BYTES
            body = binascii.b2a_base64(nonce + encrypt(nonce, value.encode(), aads[name]), newline=False)
            out[name] = (header + body.translate(_TO_URL).rstrip(b"=")).decode("ascii")
        return out

    def _open_all(self, record_type: str, envelopes: Mapping[str, str], nest: bool) -> PlainFields:
        aads, decrypt, header = self._aad_table(record_type), self._aead.decrypt, self._header
        skip = len(header)
        out: PlainFields = {}
        for name, envelope in envelopes.items():
            try:
                body = envelope.encode("ascii").removeprefix(header)
                if len(body) + skip != len(envelope):
                    raise ValueError("other format or key version")
                rem = len(body) % 4
                if body[-1] not in _CANONICAL_LAST[rem]:
                    raise ValueError("not canonical base64url")
                sealed = binascii.a2b_base64(body.translate(_FROM_URL) + _PAD[rem], strict_mode=True)
                plain = decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], aads[name]).decode()
            except (ValueError, AttributeError, IndexError, InvalidTag) as exc:
                raise self._failure(record_type, name, envelope, exc) from None
            if nest and "." in name:
                _nest(out, name, plain)
            else:
                out[name] = plain
        return out

    def _failure(self, record_type: str, name: str, envelope: str, exc: Exception) -> IntegrityError:
        if isinstance(exc, InvalidTag):
            return _integrity(record_type, name, "failed authentication")
        try:
            version = parse_envelope(envelope)[0]
        except ValueError:
            return _integrity(record_type, name, "is not a valid envelope")
        if version != self.key_version:
            return _integrity(record_type, name, f"was sealed with key version {version}, not {self.key_version}")
        return _integrity(record_type, name, "is not a valid envelope")

    def encrypt_field(self, record_type: str, field_name: str, plaintext: str) -> str:
        """The envelope of ``plaintext`` for this learner's ``record_type`` / ``field_name``."""
        return self._seal_all(record_type, {field_name: plaintext})[field_name]

    def decrypt_field(self, record_type: str, field_name: str, envelope: str) -> str:
        """The plaintext, or ``IntegrityError`` if the envelope was altered, moved or is not ours."""
        return cast(str, self._open_all(record_type, {field_name: envelope}, nest=False)[field_name])

    def encrypt_record(self, record_type: str, fields: PersonalFields) -> dict[str, str]:
        """Envelopes of every personal field, nested mappings flattened (``guardian.email``)."""
        return self._seal_all(record_type, flatten_fields(fields))

    def decrypt_record(self, record_type: str, envelopes: Mapping[str, str]) -> PlainFields:
        """Inverse of ``encrypt_record``: ``IntegrityError`` on the first field that fails."""
        return self._open_all(record_type, envelopes, nest=True)

    def __repr__(self) -> str:
        return f"FieldCipher(tenant_id={self.tenant_id!r}, learner_id={self.learner_id!r}, " \
               f"key_version={self.key_version})"


def _nest(out: PlainFields, name: str, value: str) -> None:
    head, _, sub = name.partition(".")
    group = out.setdefault(head, {})
    if not isinstance(group, dict) or "." in sub:
        raise ValueError(f"field {name!r} clashes with another field")
    group[sub] = value


def flatten_fields(fields: PersonalFields) -> dict[str, str]:
    """``{"guardian": {"name": n}}`` -> ``{"guardian.name": n}``; names must not contain dots."""
    flat: dict[str, str] = {}
    for name, value in fields.items():
        if "." in name or not name:
            raise ValueError(f"invalid field name {name!r}")
        if isinstance(value, str):
            flat[name] = value
            continue
        for sub, sub_value in value.items():
            if "." in sub or not sub or not isinstance(sub_value, str):
                raise ValueError(f"field {name}.{sub} must be a string with a dot-free name")
            flat[name + "." + sub] = sub_value
    return flat


def unflatten_fields(flat: Mapping[str, str]) -> PlainFields:
    """Inverse of ``flatten_fields``."""
    out: PlainFields = {}
    for name, value in flat.items():
        if "." in name:
            _nest(out, name, value)
        else:
            out[name] = value
    return out


# ---------------------------------------------------------------------------------------------------
# Plaintext key handles (memory only)


class LearnerKey(_Secret):
    """An unwrapped learner key: an ``AESGCM`` object and its binding. ``cipher`` seals fields."""

    __slots__ = ("_aead", "_pseudonym_key", "_tag_key", "cipher", "fingerprint", "learner_id", "tenant_id",
                 "version")

    def __init__(self, tenant_id: str, learner_id: str, version: int, secret: bytes,
                 fingerprint: str | None = None) -> None:
        if len(secret) != KEY_BYTES:
            raise ValueError("a learner key has 32 bytes")
        self.tenant_id, self.learner_id, self.version = tenant_id, learner_id, version
        self.fingerprint = fingerprint or key_fingerprint(secret)
        self._aead = AESGCM(secret)
        self._pseudonym_key = derive_subkey(secret, _PSEUDONYM_INFO, tenant_id, version)
        self._tag_key = derive_subkey(secret, _RECORD_TAG_INFO, tenant_id, version)
        self.cipher = FieldCipher(self)

    def record_tag(self, record_type: str, record_version: int, envelopes: Mapping[str, str]) -> str:
        """A MAC binding a record's version, its exact set of fields and each field's envelope.

        Field AAD binds an envelope to its field; this binds the fields to one another and to the
        record version, so an older envelope replayed into a newer version, or a deleted or added field,
        no longer matches (``check_record_tag``)."""
        message = _lp(self.learner_id) + _lp(record_type) + _lp(str(record_version))
        for name in sorted(envelopes):
            message += _lp(name) + _lp(envelopes[name])
        return b64url_encode(hmac.digest(self._tag_key, message, "sha256")).decode("ascii")

    def check_record_tag(self, record_type: str, record_version: int, envelopes: Mapping[str, str],
                         tag: str) -> None:
        """``IntegrityError`` unless ``tag`` is this record's (see ``record_tag``)."""
        if not hmac.compare_digest(tag.encode(), self.record_tag(record_type, record_version, envelopes).encode()):
            raise IntegrityError(f"the fields of a {record_type!r} record do not match its version or field set",
                                 record_type=record_type)

    def pseudonym(self, purpose: str) -> str:
        """A stable keyed pseudonym of this learner for ``purpose`` (e.g. research extracts).

        Derived from the learner key, not the tenant key: once the key is shredded nobody, the tenant
        included, can recompute it from the learner id, so erasure unlinks every extract."""
        return b64url_encode(hmac.digest(self._pseudonym_key, _lp(purpose), "sha256")[:INDEX_BYTES]).decode("ascii")

    def __repr__(self) -> str:
        return f"LearnerKey(tenant_id={self.tenant_id!r}, learner_id={self.learner_id!r}, " \
               f"version={self.version}, fingerprint={self.fingerprint!r})"


class TenantKey(_Secret):
    """An unwrapped tenant key version. Keeps only derived keys: the wrap AEAD and the index key."""

    __slots__ = ("_index_key", "_wrap", "tenant_id", "version")

    def __init__(self, tenant_id: str, version: int, root: bytes) -> None:
        if len(root) != KEY_BYTES:
            raise IntegrityError("the key service returned a tenant key of unexpected length")
        _check_id(tenant_id, "tenant_id")
        _check_version(version, "tenant key version")
        self.tenant_id, self.version = tenant_id, version
        self._wrap = AESGCM(derive_subkey(root, _WRAP_INFO, tenant_id, version))
        self._index_key = derive_subkey(root, _INDEX_INFO, tenant_id, version)

    def wrap(self, learner_id: str, key_version: int, secret: bytes) -> WrappedLearnerKey:
        """The stored form of a learner key, wrapped by this tenant key version."""
        fingerprint, nonce = key_fingerprint(secret), os.urandom(NONCE_BYTES)
        aad = _learner_key_aad(self.tenant_id, learner_id, key_version, self.version, fingerprint)
        blob = nonce + self._wrap.encrypt(nonce, secret, aad)
        return WrappedLearnerKey(self.tenant_id, learner_id, key_version, self.version, fingerprint, blob)

    def unwrap_secret(self, record: WrappedLearnerKey) -> bytes:
        """The learner key bytes of ``record``; ``IntegrityError`` if it is not this key's record."""
        if record.tenant_id != self.tenant_id or record.tenant_key_version != self.version:
            raise IntegrityError("learner key record belongs to another tenant key")
        try:
            return self._wrap.decrypt(record.blob[:NONCE_BYTES], record.blob[NONCE_BYTES:], record.aad())
        except (InvalidTag, ValueError):  # ValueError: a blob too short to hold a nonce
            raise IntegrityError("learner key record failed authentication") from None

    def unwrap(self, record: WrappedLearnerKey) -> LearnerKey:
        secret = self.unwrap_secret(record)
        return LearnerKey(record.tenant_id, record.learner_id, record.key_version, secret, record.fingerprint)

    def blind_index(self, field_name: str, value: str) -> str:
        """``<version>.<token>``: the equality-look-up token of ``value`` under this key version."""
        return f"{self.version}.{blind_index(self._index_key, field_name, value)}"

    def __repr__(self) -> str:
        return f"TenantKey(tenant_id={self.tenant_id!r}, version={self.version})"


class TenantKeys:
    """Every loaded version of one tenant's key: the newest wraps, every version unwraps."""

    __slots__ = ("_by_version", "newest", "tenant_id")

    def __init__(self, keys: Iterable[TenantKey]) -> None:
        loaded = list(keys)
        by_version = {key.version: key for key in loaded}
        if not loaded or len(by_version) != len(loaded) or len({key.tenant_id for key in loaded}) != 1:
            raise ValueError("TenantKeys needs at least one key, all of one tenant, each version once")
        self._by_version = by_version
        self.newest = by_version[max(by_version)]
        self.tenant_id = self.newest.tenant_id

    @property
    def versions(self) -> list[int]:
        """Loaded versions, newest first."""
        return sorted(self._by_version, reverse=True)

    def get(self, version: int) -> TenantKey:
        key = self._by_version.get(version)
        if key is None:
            raise IntegrityError(f"tenant key version {version} is not available")
        return key

    def new_learner_key(self, learner_id: str, key_version: int = 1) -> tuple[LearnerKey, WrappedLearnerKey]:
        """A fresh random learner key and its record wrapped by the newest version (store the record)."""
        secret = os.urandom(KEY_BYTES)
        record = self.newest.wrap(learner_id, key_version, secret)
        return LearnerKey(self.tenant_id, learner_id, key_version, secret, record.fingerprint), record

    def unwrap(self, record: WrappedLearnerKey) -> LearnerKey:
        """The learner key of a stored record, whichever loaded version wrapped it."""
        return self.get(record.tenant_key_version).unwrap(record)

    def needs_rewrap(self, record: WrappedLearnerKey) -> bool:
        return record.tenant_key_version != self.newest.version

    def rewrap(self, record: WrappedLearnerKey) -> WrappedLearnerKey:
        """The same learner key wrapped by the newest version; field envelopes stay valid."""
        if not self.needs_rewrap(record):
            return record
        secret = self.get(record.tenant_key_version).unwrap_secret(record)
        return self.newest.wrap(record.learner_id, record.key_version, secret)

    def blind_index(self, field_name: str, value: str) -> str:
        """Token to store with a record (newest version)."""
        return self.newest.blind_index(field_name, value)

    def blind_index_all(self, field_name: str, value: str) -> list[str]:
        """Tokens to look up, newest version first (records indexed before a rotation still match)."""
        return [self._by_version[v].blind_index(field_name, value) for v in self.versions]

    def __repr__(self) -> str:
        return f"TenantKeys(tenant_id={self.tenant_id!r}, versions={self.versions})"


def rewrap(learner_key_record: WrappedLearnerKey, tenant_keys: TenantKeys) -> WrappedLearnerKey:
    """Move a learner's wrapped key to the tenant's newest key version (see ``TenantKeys.rewrap``)."""
    return tenant_keys.rewrap(learner_key_record)


# ---------------------------------------------------------------------------------------------------
# The keyring: tenant keys through the provider, cached


class Keyring:
    """Unwraps tenant keys through a ``DataKeyProvider`` and caches them (bounded, TTL'd).

    The caller stores and loads ``WrappedTenantKey`` records; the warm path (same tenant, version
    and blob within the TTL) makes no provider call. One keyring per process.
    """

    def __init__(self, provider: DataKeyProvider, *, max_entries: int = 512, ttl_seconds: float = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._provider = provider
        self.cache: TtlCache[tuple[str, int, bytes], TenantKey] = TtlCache(max_entries, ttl_seconds, clock)

    def create_tenant_key(self, tenant_id: str, version: int = 1) -> WrappedTenantKey:
        """A new tenant key version from the provider: store the returned record (conditionally:
        a version must never be written twice). The plaintext goes to the cache only."""
        _check_version(version, "tenant key version")
        root, blob = self._provider.generate_data_key(tenant_key_context(tenant_id, version))
        record = WrappedTenantKey(tenant_id, version, blob)
        self.cache.put((tenant_id, version, blob), TenantKey(tenant_id, version, root))
        return record

    def rotate(self, current: TenantKeys) -> WrappedTenantKey:
        """The next version of the tenant's key (store it, then load all versions again)."""
        return self.create_tenant_key(current.tenant_id, current.newest.version + 1)

    def tenant_key(self, record: WrappedTenantKey) -> TenantKey:
        """The unwrapped key of a stored record, from the cache or the provider."""
        def load() -> TenantKey:
            context = tenant_key_context(record.tenant_id, record.version)
            root = self._provider.decrypt_data_key(record.blob, context)
            return TenantKey(record.tenant_id, record.version, root)

        return self.cache.get_or_create((record.tenant_id, record.version, record.blob), load)

    def tenant_keys(self, records: Iterable[WrappedTenantKey]) -> TenantKeys:
        """All stored versions of one tenant's key, unwrapped."""
        return TenantKeys(self.tenant_key(record) for record in records)

    def evict(self, tenant_id: str) -> int:
        """Drop a tenant's cached keys (offboarding, suspected compromise); returns how many."""
        return self.cache.discard_if(lambda key: key[0] == tenant_id)

    def __repr__(self) -> str:
        return f"Keyring(cache={self.cache!r})"


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
