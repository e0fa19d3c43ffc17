"""The region's audit signing keys: which key signs now, its recorded history, ``GET /v1/audit/keys``.

``sign_current`` signs with the key the signing alias names at the moment of signing, and names that key
inside the payload it signs. The key id is remembered per container: the payload is built naming it and
signed *through the alias*; KMS answers with the key that actually signed, and when that differs (the
alias was moved since), the new key is recorded and the payload rebuilt and signed again by it. So a
warm container makes one KMS call per signature (Sign), and a key change costs one DescribeKey and one
extra Sign, once. A key id used for the first time is recorded with ``valid_from`` = now, and the key
it replaces gets ``valid_until`` = now; the first key a region records is valid from its creation in KMS
(it may have signed before the history existed). The time is taken before the payload's own ``at``, so
every signature falls inside its key's recorded validity.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, TypeVar

from chalicelib.adapters.key_history import KeyHistory
from chalicelib.adapters.kms_signer import KmsCheckpointSigner
from chalicelib.domain.audit import format_at
from chalicelib.domain.audit.keyset import PublishedKey, keys_document
from chalicelib.domain.errors import ServiceUnavailable
from chalicelib.logs import logger
from chalicelib.services.access import AccessControl
from chalicelib.services.context import Caller

Built = TypeVar("Built")


class SigningKeys:
    """The signing key in use, recorded in the key history the first time it is used."""

    def __init__(self, signer: KmsCheckpointSigner, history: KeyHistory, clock: Callable[[], datetime]) -> None:
        self._signer = signer
        self._history = history
        self._clock = clock
        self._recorded: set[str] = set()
        self._lock = threading.Lock()
        self._in_use: str | None = None  # the key id the alias named at this container's last signature

    @property
    def signer(self) -> KmsCheckpointSigner:
        return self._signer

    def current(self) -> str:
        """The key id the alias names now, asked of KMS (recorded in the history before this returns)."""
        key_id, created = self._signer.current_key()
        if key_id not in self._recorded:
            self._record(key_id, created, self._history.all())
        self._in_use = key_id
        return key_id

    def sign_current(self, build: Callable[[str], tuple[bytes, Built]]) -> tuple[str, str, Built]:
        """Sign what ``build(key_id)`` makes with the key the alias names when KMS signs it.

        ``build`` returns the payload naming ``key_id`` and whatever the caller keeps of it (its time);
        it is called after the key is recorded, so its time falls inside the key's validity. Returns
        ``(key_id, signature, built)``."""
        key_id = self._in_use or self.current()
        for _ in range(2):
            payload, built = build(key_id)
            signed_by, signature = self._signer.sign(payload)
            if signed_by == key_id:
                return key_id, signature, built
            key_id = self.current()  # the alias moved since this container last signed: record the new key
        raise ServiceUnavailable("the audit signing key is changing; retry later")

    def published(self) -> list[PublishedKey]:
        """Every key of the history, the current one recorded if it was not yet."""
        known = self._history.all()
        key_id, created = self._signer.current_key()
        if key_id not in {key.key_id for key in known}:
            self._recorded.discard(key_id)
            self._record(key_id, created, known)
            known = self._history.all()
        return known

    def recorded(self) -> list[PublishedKey]:
        """Every key of the history: each key is recorded before its first signature, so this names every key
        that signed anything (an export's key set) without asking KMS; an empty history asks (``published``)."""
        return self._history.all() or self.published()

    def public_keys(self, key_ids: Iterable[str]) -> dict[str, str]:
        """``{key_id: PEM}`` of the keys named (fetched once per key id)."""
        return dict(self._signer.public_key(key_id) for key_id in sorted(set(key_ids)))

    def _record(self, key_id: str, created: datetime, known: list[PublishedKey]) -> None:
        with self._lock:
            now = self._clock()
            others = [key for key in known if key.key_id != key_id]
            mine = [key for key in known if key.key_id == key_id]
            if not mine:
                since = format_at(now if others else min(now, created))
                _, pem = self._signer.public_key(key_id)
                if self._history.add(PublishedKey(key_id, pem, since)):
                    logger.info("audit signing key recorded", extra={"key_id": key_id, "valid_from": since})
                for key in others:
                    if key.valid_until is None:
                        self._history.close(key.key_id, since)
            self._recorded.add(key_id)


class AuditKeyService:
    """``GET /v1/audit/keys``: the region's signing keys, for any signed-in role."""

    def __init__(self, access: AccessControl, keys: SigningKeys) -> None:
        self._access = access
        self._keys = keys

    def keys(self, caller: Caller) -> dict[str, Any]:
        self._access.region(caller.principal, "audit.keys")
        document = keys_document(self._keys.published())
        logger.info("audit signing keys read", extra={"actor_sub": caller.principal.sub,
                                                      "keys": len(document["keys"])})
        return document
