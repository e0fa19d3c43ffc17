"""Webhooks, the pure part: Standard Webhooks signatures, secrets, the retry schedule, endpoint checks.

A delivery is signed as Standard Webhooks specifies: ``webhook-id`` (the delivery's message id, the same
on every attempt), ``webhook-timestamp`` (Unix seconds of the attempt) and ``webhook-signature``
(``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`` keyed with the secret's bytes, the part after
``whsec_`` base64-decoded). While a rotated secret overlaps, the header holds both signatures,
space-separated, so a receiver holding either secret verifies.

A failed attempt is retried on an exponential schedule (``RETRY_DELAYS``) for 24 hours after the first;
an attempt that would fall later parks the delivery in the endpoint's dead-letter list.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import os
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import BaseModel, ConfigDict, Field

from chalicelib.domain.crypto_primitives import DataKeyProvider
from chalicelib.domain.errors import IntegrityError, ValidationFailed
from chalicelib.domain.events import EVENT_TYPES

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
RETRY_FOR = timedelta(hours=24)
RETRY_DELAYS = tuple(timedelta(seconds=15 * 4 ** n) for n in range(5)) + (timedelta(hours=6),) * 4
"""After attempt n fails, attempt n+1 comes this much later: 15 s, 1 min, 4 min, 16 min, 64 min, then every
6 h. Attempts land at 0, 15 s, 75 s, ~5 min, ~21 min, ~85 min, ~7.4 h, ~13.4 h, ~19.4 h; the next (~25.4 h)
is past 24 h, so the delivery is parked after its 9th failure."""
ROTATION_OVERLAP = timedelta(hours=24)
"""How long a replaced secret still signs, beside the new one."""
MAX_ENDPOINTS = 10
DELIVERY_ID = re.compile(r"msg_[0-9a-f]{32}")
MAX_URL = 2048


class WebhookCreate(BaseModel):
    """Body of ``POST /v1/tenants/{tenant_id}/webhooks``."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    url: str = Field(min_length=8, max_length=2048)
    event_types: list[str] = Field(min_length=1, max_length=len(EVENT_TYPES))


def new_secret() -> str:
    """A fresh ``whsec_<base64 of 32 random bytes>`` secret."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_bytes(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256>`` of ``{id}.{timestamp}.{body}``."""
    mac = hmac.new(secret_bytes(secret), f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def signed_headers(secrets_in_use: Iterable[str], message_id: str, at: datetime, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers of one attempt, one signature per secret in use."""
    timestamp = int(at.timestamp())
    return {"webhook-id": message_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": " ".join(signature(s, message_id, timestamp, body) for s in secrets_in_use),
            "content-type": "application/json"}


def next_attempt(first_attempt: datetime, attempts: int, now: datetime) -> datetime | None:
    """When to try again after ``attempts`` failed attempts, or None: retrying is over (dead-letter)."""
    if attempts < 1 or attempts > len(RETRY_DELAYS):
        return None
    due = now + RETRY_DELAYS[attempts - 1]
    return due if due <= first_attempt + RETRY_FOR else None


def check_url(url: str, allow_local_http: bool) -> str:
    """An endpoint must be ``https://`` to a public host name (locally, ``http://`` to a loopback address
    is allowed for the development receiver); otherwise 422."""
    if len(url) > MAX_URL:
        raise _invalid("url", "the endpoint URL is too long")
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.username or parts.password or not host:
        raise _invalid("url", "the endpoint URL must name a host and hold no credentials")
    if parts.scheme == "http" and allow_local_http and _loopback(host):
        return url
    if parts.scheme != "https":
        raise _invalid("url", "webhook endpoints must use https")
    if _is_address(host) or host == "localhost" or "." not in host:
        raise _invalid("url", "webhook endpoints must name a public host")
    return url


def _invalid(name: str, message: str) -> ValidationFailed:
    return ValidationFailed([{"field": name, "message": message}], message)


def _loopback(host: str) -> bool:
    return host == "localhost" or (_is_address(host) and ipaddress.ip_address(host).is_loopback)


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class Endpoint:
    """A registered endpoint: where, which event types, and (decrypted, in memory only) its secrets."""

    webhook_id: str
    tenant_id: str
    url: str
    event_types: tuple[str, ...]
    created_at: str
    rotated_at: str | None = None
    previous_until: str | None = None
    secrets: tuple[str, ...] = field(default=(), repr=False)

    def wants(self, event_type: str) -> bool:
        return event_type in self.event_types

    def signing_secrets(self, now: datetime) -> tuple[str, ...]:
        """The current secret, and the previous one while its overlap lasts."""
        if len(self.secrets) > 1 and self.previous_until and now < datetime.fromisoformat(self.previous_until):
            return self.secrets
        return self.secrets[:1]


@dataclass(frozen=True)
class Delivery:
    """One event to one endpoint: queued with a due time until delivered, or parked (dead-lettered)."""

    delivery_id: str
    webhook_id: str
    event_id: str
    event_type: str
    body: str
    due_at: str
    attempts: int = 0
    first_attempt_at: str | None = None
    last_status: str | None = None

    def public(self) -> dict[str, Any]:
        """A dead letter as the API shows it: ids, type, counts, the last failure (the body is ids only)."""
        return {"delivery_id": self.delivery_id, "webhook_id": self.webhook_id, "event_id": self.event_id,
                "event_type": self.event_type, "attempts": self.attempts,
                "first_attempt_at": self.first_attempt_at, "parked_at": self.due_at,
                "last_status": self.last_status}


def delivery_id(webhook_id: str, event_id: str) -> str:
    """The delivery's id and Standard Webhooks message id: one per endpoint and event, on every attempt."""
    return "msg_" + hashlib.sha256(f"{webhook_id}\x1f{event_id}".encode()).hexdigest()[:32]


def event_types_of(requested: Iterable[str], known: Mapping[str, Any] | Iterable[str]) -> tuple[str, ...]:
    """The chosen types, each known, deduplicated and sorted; 422 otherwise."""
    allowed = set(known)
    chosen = sorted(set(requested))
    unknown = [t for t in chosen if t not in allowed]
    if not chosen or unknown:
        raise _invalid("event_types", f"event_types must name known event types (unknown: {unknown})")
    return tuple(chosen)


def secret_context(tenant_id: str, webhook_id: str) -> dict[str, str]:
    """The KMS encryption context of a webhook secret's data key (the IAM policy pins ``purpose``)."""
    return {"tenant_id": tenant_id, "purpose": "webhook-secret", "webhook_id": webhook_id}


class SecretSealer:
    """KMS envelope encryption of webhook secrets: a data key per secret (wrapped by the region's key,
    bound to tenant and endpoint), AES-256-GCM over the secret with the endpoint as associated data."""

    def __init__(self, keys: DataKeyProvider) -> None:
        self._keys = keys

    def seal(self, tenant_id: str, webhook_id: str, secret: str) -> str:
        plain, wrapped = self._keys.generate_data_key(secret_context(tenant_id, webhook_id))
        nonce = os.urandom(12)
        sealed = AESGCM(plain).encrypt(nonce, secret.encode(), f"{tenant_id}/{webhook_id}".encode())
        return ".".join(base64.b64encode(part).decode() for part in (wrapped, nonce, sealed))

    def open(self, tenant_id: str, webhook_id: str, envelope: str) -> str:
        try:
            wrapped, nonce, sealed = (base64.b64decode(part) for part in envelope.split("."))
            plain = self._keys.decrypt_data_key(wrapped, secret_context(tenant_id, webhook_id))
            return AESGCM(plain).decrypt(nonce, sealed, f"{tenant_id}/{webhook_id}".encode()).decode()
        except (ValueError, InvalidTag):
            raise IntegrityError("a webhook secret failed authentication") from None
