"""The key hierarchy: wrapped records, plaintext key handles (memory only) and the keyring."""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from chalicelib.domain.cache import TtlCache
from chalicelib.domain.crypto_primitives import (
    _INDEX_INFO,
    _LEARNER_AAD,
    _PSEUDONYM_INFO,
    _RECORD_TAG_INFO,
    _WRAP_INFO,
    INDEX_BYTES,
    KEY_BYTES,
    NONCE_BYTES,
    DataKeyProvider,
    _check_id,
    _check_version,
    _lp,
    _Secret,
    b64url_encode,
    blind_index,
    derive_subkey,
    key_fingerprint,
    tenant_key_context,
)
from chalicelib.domain.envelopes import FieldCipher
from chalicelib.domain.errors import IntegrityError

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
        self.cipher = FieldCipher(self._aead, tenant_id, learner_id, version)

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


