"""Idempotent creation: a retried POST with the same ``Idempotency-Key`` returns the first result.

A request's scope is (tenant, caller, route, key); its fingerprint is keyed with the tenant's blind-index
key and covers only the body's non-personal fields; a retry across a key rotation compares under the
version the claim was made with (``IdempotencyScope.matches``). A fingerprint of personal fields would be a value
derived from them that outlives an erasure (the record lives a day; the tenant key far longer), so the
service that owns the resource compares a retry's personal fields with the stored record instead,
decrypted with the subject's own key (``same_personal``): once that key is destroyed nothing is left.
The claim is written in the same transaction as the resource it created, so a key is claimed exactly
when the resource exists.

Onboarding a tenant has no tenant yet: its scope is (caller, route, key) in the onboarding region, its
fingerprint a plain SHA-256 of the body (a tenant's name, kind and jurisdiction are not personal), and
the claim is written first (``claim_first``), so a retry after a crash finishes the same tenant.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from chalicelib.adapters.idempotency import MAX_KEY_LENGTH, IdempotencyStore
from chalicelib.domain.errors import BadRequest, Conflict
from chalicelib.domain.tenants import Tenant
from chalicelib.services.context import Caller
from chalicelib.services.keys.tenant_keys import TenantKeyService

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef


@dataclass(frozen=True)
class IdempotencyScope:
    """``fingerprint`` is stored with a claim (newest key version); ``versions`` maps every loaded tenant key
    version to the fingerprint under it, so a retry across a key rotation still matches its claim."""

    key: str
    fingerprint: str
    versions: tuple[tuple[str, str], ...] = ()

    def matches(self, stored: str) -> bool:
        """Whether a claim's stored fingerprint is this request's. One made under a version retired since
        (rotation retires a version once nothing it wraps is left) cannot be recomputed: it is taken as
        this request's, and the owning service still compares the personal fields (``same_personal``)."""
        if stored == self.fingerprint:
            return True
        version = stored.split(".", 1)[0]
        mine = dict(self.versions)
        return mine.get(version, stored) == stored if self.versions else False


class Idempotency:
    def __init__(self, store: IdempotencyStore, keys: TenantKeyService) -> None:
        self._store = store
        self._keys = keys

    def scope(self, caller: Caller, tenant: Tenant, route: str, body: BaseModel, key: str | None,
              personal: Collection[str] = ()) -> IdempotencyScope | None:
        """The request's scope, or None without an ``Idempotency-Key`` (400 for a malformed one).

        ``personal``: the body's fields left out of the fingerprint (check them with ``same_personal``)."""
        if key is None:
            return None
        _check_key(key)
        kept = body.model_dump(mode="json", exclude=set(personal))
        canonical = json.dumps(kept, sort_keys=True, separators=(",", ":"))
        tokens = self._keys.keys_for(tenant).blind_index_all("idempotency", canonical)  # newest first
        scope_hash = hashlib.sha256(f"{caller.principal.sub}\x00{route}\x00{key}".encode()).hexdigest()
        return IdempotencyScope(f"{tenant.tenant_id}#{scope_hash}", tokens[0],
                                tuple((token.split(".", 1)[0], token) for token in tokens))

    @staticmethod
    def unscoped(caller_sub: str, route: str, body: BaseModel, key: str | None) -> IdempotencyScope | None:
        """The scope of a create that belongs to no tenant yet (onboarding); None without a key."""
        if key is None:
            return None
        _check_key(key)
        canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        scope_hash = hashlib.sha256(f"{caller_sub}\x00{route}\x00{key}".encode()).hexdigest()
        return IdempotencyScope(f"platform#{scope_hash}", hashlib.sha256(canonical.encode()).hexdigest())

    def claim_first(self, scope: IdempotencyScope, resource_id: str) -> str:
        """Claim ``scope`` for ``resource_id`` before creating it; the id an earlier request claimed, if any."""
        if self._store.put(scope.key, resource_id, scope.fingerprint):
            return resource_id
        earlier = self.earlier(scope)
        if earlier is None:
            raise Conflict("this Idempotency-Key is being claimed by another request; retry")
        return earlier

    def earlier(self, scope: IdempotencyScope | None) -> str | None:
        """The id created by an earlier request with this scope; 409 if that request had another body."""
        found = self._store.find(scope.key) if scope else None
        if found is None or scope is None:
            return None
        resource_id, fingerprint = found
        if not scope.matches(fingerprint):
            raise Conflict("this Idempotency-Key was used with a different request", reason="idempotency_key_reused")
        return resource_id

    @staticmethod
    def same_personal(stored: Mapping[str, Any], sent: Mapping[str, Any]) -> None:
        """409 when a retry's personal fields differ from those the first request stored (decrypted)."""
        if dict(stored) != dict(sent):
            raise Conflict("this Idempotency-Key was used with a different request", reason="idempotency_key_reused")

    def claims(self, scope: IdempotencyScope | None, resource_id: str) -> list[TransactWriteItemTypeDef]:
        """The claim to write in the creating transaction (none without a key)."""
        return [self._store.claim(scope.key, resource_id, scope.fingerprint)] if scope else []


def _check_key(key: str) -> None:
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isprintable():
        raise BadRequest(f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable characters")
