"""Idempotent creation: a retried POST with the same ``Idempotency-Key`` returns the first result.

A request's scope is (tenant, caller, route, key); its fingerprint is keyed with the tenant's blind-index
key (the body may be personal data, so no unkeyed hash of it is stored). The claim is written in the same
transaction as the resource it created, so a key is claimed exactly when the resource exists.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import BaseModel

from chalicelib.adapters.idempotency import MAX_KEY_LENGTH, IdempotencyStore
from chalicelib.domain.errors import BadRequest, Conflict
from chalicelib.domain.tenants import Tenant
from chalicelib.services.context import Caller
from chalicelib.services.keys import TenantKeyService

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef


@dataclass(frozen=True)
class IdempotencyScope:
    key: str
    fingerprint: str


class Idempotency:
    def __init__(self, store: IdempotencyStore, keys: TenantKeyService) -> None:
        self._store = store
        self._keys = keys

    def scope(self, caller: Caller, tenant: Tenant, route: str, body: BaseModel,
              key: str | None) -> IdempotencyScope | None:
        """The request's scope, or None without an ``Idempotency-Key`` (400 for a malformed one)."""
        if key is None:
            return None
        if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isprintable():
            raise BadRequest(f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable characters")
        canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        fingerprint = self._keys.keys_for(tenant).blind_index("idempotency", canonical)
        scope_hash = hashlib.sha256(f"{caller.principal.sub}\x00{route}\x00{key}".encode()).hexdigest()
        return IdempotencyScope(f"{tenant.tenant_id}#{scope_hash}", fingerprint)

    def earlier(self, scope: IdempotencyScope | None) -> str | None:
        """The id created by an earlier request with this scope; 409 if that request had another body."""
        found = self._store.find(scope.key) if scope else None
        if found is None or scope is None:
            return None
        resource_id, fingerprint = found
        if fingerprint != scope.fingerprint:
            raise Conflict("this Idempotency-Key was used with a different request", reason="idempotency_key_reused")
        return resource_id

    def claims(self, scope: IdempotencyScope | None, resource_id: str) -> list[TransactWriteItemTypeDef]:
        """The claim to write in the creating transaction (none without a key)."""
        return [self._store.claim(scope.key, resource_id, scope.fingerprint)] if scope else []
