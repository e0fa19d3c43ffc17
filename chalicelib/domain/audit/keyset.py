"""The region's published audit signing keys (``GET /v1/audit/keys``, an export's ``keys.json``), as a
verifier trusts them: every key id ever used, its public key and the time it was in use.

A signature is accepted against this set only when its key id is in it and its signing time (``at``)
lies within that key's ``valid_from`` .. ``valid_until`` (inclusive; no ``valid_until``: still in use).
Times are compared as the fixed-width UTC strings ``format_at`` writes. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from chalicelib.domain.audit.canonical import AuditFormatError
from chalicelib.domain.audit.signing import key_fingerprint, load_p256

_TIME_WIDTH = len("2026-01-01T00:00:00.000000Z")


@dataclass(frozen=True, slots=True)
class PublishedKey:
    """One signing key as published: its id, public key and the span it signed in."""

    key_id: str
    public_key: str
    valid_from: str
    valid_until: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The route's and ``keys.json``'s shape of one key."""
        body: dict[str, Any] = {"key_id": self.key_id, "public_key": self.public_key, "valid_from": self.valid_from}
        if self.valid_until is not None:
            body["valid_until"] = self.valid_until
        return body


def keys_document(keys: list[PublishedKey]) -> dict[str, Any]:
    """``{"keys": [...]}``, oldest first."""
    return {"keys": [key.as_dict() for key in sorted(keys, key=lambda k: (k.valid_from, k.key_id))]}


class PublishedKeys:
    """A parsed key set; ``problem`` says why a signature by ``key_id`` at ``at`` is not covered by it."""

    def __init__(self, keys: Mapping[str, tuple[PublishedKey, ec.EllipticCurvePublicKey]]) -> None:
        self._keys = dict(keys)

    @classmethod
    def parse(cls, document: object) -> PublishedKeys:
        """From ``{"keys": [{"key_id", "public_key", "valid_from", "valid_until"?}]}``; AuditFormatError if
        malformed."""
        if not isinstance(document, Mapping) or type(document.get("keys")) is not list:
            raise AuditFormatError('the key set is not {"keys": [...]} as GET /v1/audit/keys answers')
        keys: dict[str, tuple[PublishedKey, ec.EllipticCurvePublicKey]] = {}
        for entry in document["keys"]:
            published = _entry(entry)
            key = load_p256(published.public_key)
            if key is None:
                raise AuditFormatError(f"the key set's key {published.key_id} is not a PEM EC P-256 public key")
            keys[published.key_id] = (published, key)
        return cls(keys)

    def key_ids(self) -> list[str]:
        return sorted(self._keys)

    def key(self, key_id: str) -> ec.EllipticCurvePublicKey | None:
        found = self._keys.get(key_id)
        return None if found is None else found[1]

    def fingerprint(self, key_id: str) -> str:
        return key_fingerprint(self._keys[key_id][1])

    def problem(self, key_id: str, at: str, subject: str) -> str | None:
        """None when ``key_id`` is published and ``at`` lies in its validity; else one sentence."""
        found = self._keys.get(key_id)
        if found is None:
            return f"{subject} is signed by key {key_id}, which is not among the published keys"
        published = found[0]
        if at < published.valid_from or (published.valid_until is not None and at > published.valid_until):
            until = published.valid_until or "now"
            return (f"{subject} was signed at {at}, outside the validity of key {key_id} "
                    f"({published.valid_from} to {until})")
        return None


def _entry(entry: object) -> PublishedKey:
    if not isinstance(entry, Mapping):
        raise AuditFormatError("a key of the key set is not an object")
    key_id, pem, since, until = (entry.get(name) for name in ("key_id", "public_key", "valid_from", "valid_until"))
    if type(key_id) is not str or not key_id or type(pem) is not str:
        raise AuditFormatError("a key of the key set lacks key_id or public_key")
    if not _is_time(since) or not (until is None or _is_time(until)):
        raise AuditFormatError(f"the key set's key {key_id} has no valid_from/valid_until UTC time")
    return PublishedKey(key_id, pem, str(since), None if until is None else str(until))


def _is_time(value: object) -> bool:
    return type(value) is str and len(value) == _TIME_WIDTH and value.endswith("Z") and value[10] == "T"
