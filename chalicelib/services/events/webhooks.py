"""A tenant admin's webhook endpoints (``/v1/tenants/{tenant_id}/webhooks``) and their dead letters.

Every call is Cedar-authorized (``webhook.read``, ``webhook.manage``) and audited; a change is written in
the transaction of its audit event. A secret (``whsec_...``) is shown once, when it is made; it is
stored as a KMS envelope only. Rotating makes a new secret and keeps the old one signing beside it for
``ROTATION_OVERLAP`` (both signatures in ``webhook-signature``), so receivers can switch without a gap.
A dead letter can be replayed: it goes back to the queue, due now, with a fresh 24 hours of retries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from chalicelib.adapters.audit_store import AuditStore, ChangeRejected
from chalicelib.adapters.webhook_store import WebhookStore
from chalicelib.domain.audit import format_at
from chalicelib.domain.errors import Conflict, NotFound
from chalicelib.domain.events import EVENT_TYPES
from chalicelib.domain.ids import new_id, require_id
from chalicelib.domain.tenants import Tenant
from chalicelib.domain.webhooks import (
    DELIVERY_ID,
    MAX_ENDPOINTS,
    ROTATION_OVERLAP,
    SecretSealer,
    WebhookCreate,
    check_url,
    event_types_of,
    new_secret,
)
from chalicelib.services.access import AccessControl
from chalicelib.services.context import Caller


def webhooks_resource(tenant_id: str, webhook_id: str | None = None) -> str:
    return f"tenants/{tenant_id}/webhooks" + (f"/{webhook_id}" if webhook_id else "")


class WebhookService:
    def __init__(self, access: AccessControl, store: WebhookStore, sealer: SecretSealer, audit: AuditStore,
                 clock: Callable[[], datetime], allow_local_http: bool = False) -> None:
        self._access = access
        self._store = store
        self._sealer = sealer
        self._audit = audit
        self._clock = clock
        self._allow_local_http = allow_local_http

    def create(self, caller: Caller, tenant_id: str, body: WebhookCreate) -> dict[str, Any]:
        tenant = self._access.tenant(caller.principal, tenant_id, "webhook.manage")
        url = check_url(body.url, self._allow_local_http)
        event_types = event_types_of(body.event_types, EVENT_TYPES)
        if len(self._store.endpoints(tenant.jurisdiction, tenant.tenant_id)) >= MAX_ENDPOINTS:
            raise Conflict(f"a tenant has at most {MAX_ENDPOINTS} webhook endpoints")
        webhook_id = new_id("whk")
        secret = new_secret()
        item = {"webhook_id": webhook_id, "url": url, "event_types": list(event_types),
                "created_at": format_at(self._clock()),
                "secrets": [self._sealer.seal(tenant.tenant_id, webhook_id, secret)]}
        draft = caller.draft("webhook.create", webhooks_resource(tenant.tenant_id, webhook_id), webhook_id=webhook_id,
                             event_types=list(event_types))
        self._audit.commit(tenant.tenant_id, tenant.jurisdiction, draft,
                           [self._store.endpoint_put(tenant.jurisdiction, tenant.tenant_id, item, new=True),
                            self._store.registry_put(tenant.jurisdiction, tenant.tenant_id)])
        return {**_public(item), "secret": secret}

    def list(self, caller: Caller, tenant_id: str) -> dict[str, Any]:
        tenant = self._access.tenant(caller.principal, tenant_id, "webhook.read")
        items = self._store.endpoints(tenant.jurisdiction, tenant.tenant_id)
        self._audit.commit(tenant.tenant_id, tenant.jurisdiction,
                           caller.draft("webhook.list", webhooks_resource(tenant.tenant_id), count=len(items)))
        return {"webhooks": [_public(item) for item in items], "event_types": list(EVENT_TYPES)}

    def get(self, caller: Caller, tenant_id: str, webhook_id: str) -> dict[str, Any]:
        tenant = self._access.tenant(caller.principal, tenant_id, "webhook.read")
        item = self._existing(tenant, webhook_id)
        self._audit.commit(tenant.tenant_id, tenant.jurisdiction,
                           caller.draft("webhook.read", webhooks_resource(tenant.tenant_id, webhook_id),
                                        webhook_id=webhook_id))
        return _public(item)

    def delete(self, caller: Caller, tenant_id: str, webhook_id: str) -> dict[str, Any]:
        tenant = self._access.tenant(caller.principal, tenant_id, "webhook.manage")
        require_id(webhook_id, "whk", "webhook endpoint")  # an unknown id: the delete's condition answers 404
        draft = caller.draft("webhook.delete", webhooks_resource(tenant.tenant_id, webhook_id), webhook_id=webhook_id)
        try:
            self._audit.commit(tenant.tenant_id, tenant.jurisdiction, draft,
                               [self._store.endpoint_delete(tenant.jurisdiction, tenant.tenant_id, webhook_id)])
        except ChangeRejected:
            raise NotFound("no such webhook endpoint") from None
        return {"webhook_id": webhook_id, "deleted": True}

    def rotate(self, caller: Caller, tenant_id: str, webhook_id: str) -> dict[str, Any]:
        """A new secret; the current one keeps signing beside it until the overlap ends."""
        tenant = self._access.tenant(caller.principal, tenant_id, "webhook.manage")
        item = self._existing(tenant, webhook_id)
        now = self._clock()
        secret = new_secret()
        rotated = {**item, "secrets": [self._sealer.seal(tenant.tenant_id, webhook_id, secret), item["secrets"][0]],
                   "rotated_at": format_at(now), "previous_until": format_at(now + ROTATION_OVERLAP)}
        draft = caller.draft("webhook.rotate", webhooks_resource(tenant.tenant_id, webhook_id), webhook_id=webhook_id,
                             previous_until=rotated["previous_until"])
        try:
            self._audit.commit(tenant.tenant_id, tenant.jurisdiction, draft,
                               [self._store.endpoint_put(tenant.jurisdiction, tenant.tenant_id, rotated, new=False)])
        except ChangeRejected:
            raise NotFound("no such webhook endpoint") from None
        return {**_public(rotated), "secret": secret}

    def dead_letters(self, caller: Caller, tenant_id: str) -> dict[str, Any]:
        tenant = self._access.tenant(caller.principal, tenant_id, "webhook.read")
        parked = self._store.dead_letters(tenant.jurisdiction, tenant.tenant_id)
        self._audit.commit(tenant.tenant_id, tenant.jurisdiction,
                           caller.draft("webhook.dead_letters", webhooks_resource(tenant.tenant_id) + "/dead-letters",
                                        count=len(parked)))
        return {"dead_letters": [d.public() for d in parked]}

    def replay(self, caller: Caller, tenant_id: str, delivery_id: str) -> dict[str, Any]:
        """Back to the queue, due now, attempts counted afresh (the same ``webhook-id``)."""
        tenant = self._access.tenant(caller.principal, tenant_id, "webhook.manage")
        parked = None
        if DELIVERY_ID.fullmatch(delivery_id):
            parked = self._store.dead_letter(tenant.jurisdiction, tenant.tenant_id, delivery_id)
        if parked is None:
            raise NotFound("no such dead letter")
        queued = replace(parked, due_at=format_at(self._clock()), attempts=0, first_attempt_at=None)
        draft = caller.draft("webhook.replay", webhooks_resource(tenant.tenant_id) + "/dead-letters/" + delivery_id,
                             delivery_id=delivery_id, event_id=parked.event_id)
        try:
            self._audit.commit(tenant.tenant_id, tenant.jurisdiction, draft,
                               self._store.replay_changes(tenant.jurisdiction, tenant.tenant_id, parked, queued))
        except ChangeRejected:
            raise Conflict("this dead letter was replayed meanwhile") from None
        return {"delivery_id": delivery_id, "queued": True, "due_at": queued.due_at}

    def _existing(self, tenant: Tenant, webhook_id: str) -> dict[str, Any]:
        require_id(webhook_id, "whk", "webhook endpoint")
        item = self._store.endpoint(tenant.jurisdiction, tenant.tenant_id, webhook_id)
        if item is None:
            raise NotFound("no such webhook endpoint")
        return item


def _public(item: dict[str, Any]) -> dict[str, Any]:
    shown = {"webhook_id": item["webhook_id"], "url": item["url"], "event_types": list(item["event_types"]),
             "created_at": item["created_at"]}
    if item.get("rotated_at"):
        shown["secret_rotated_at"] = item["rotated_at"]
        shown["previous_secret_valid_until"] = item["previous_until"]
    return shown
