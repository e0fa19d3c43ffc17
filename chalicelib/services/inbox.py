"""A signed-in user's alerts: the console's inbox (with its unread count) and which alerts they get.

Every user reads only their own items (the token's ``sub``), in the region whose pool issued the token.
Reading the inbox and marking items read are audited as ``inbox.read`` / ``inbox.mark_read`` in the chain of
each tenant the alerts shown name (alert ids and counts); the unread count (a number) and the preferences
(the user's own settings, about no tenant) are not chained: a preference change is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from chalicelib.adapters.alert_store import AlertStore, inbox_sk
from chalicelib.adapters.audit_store import AuditStore
from chalicelib.domain.alerts import InboxRead, NotificationsUpdate
from chalicelib.domain.audit import format_at
from chalicelib.domain.errors import BadRequest, NotFound
from chalicelib.services.access import AccessControl
from chalicelib.services.context import Caller

logger = logging.getLogger(__name__)


class InboxService:
    def __init__(self, access: AccessControl, alerts: AlertStore, audit: AuditStore, jurisdiction: str,
                 clock: Callable[[], datetime]) -> None:
        self._access = access
        self._alerts = alerts
        self._audit = audit
        self._jurisdiction = jurisdiction
        self._clock = clock

    def preferences(self, caller: Caller) -> dict[str, Any]:
        self._access.region(caller.principal, "notification.read")
        return self._alerts.preferences(caller.principal.sub).to_json()

    def update_preferences(self, caller: Caller, change: NotificationsUpdate) -> dict[str, Any]:
        self._access.region(caller.principal, "notification.update")
        updated = self._alerts.preferences(caller.principal.sub).updated(change)
        self._alerts.save_preferences(caller.principal.sub, updated, format_at(self._clock()))
        logger.info("notification preferences changed", extra={"kinds": sorted(change.alerts)})
        return updated.to_json()

    def unread(self, caller: Caller) -> dict[str, Any]:
        self._access.region(caller.principal, "inbox.read")
        return {"unread": self._alerts.unread(caller.principal.sub)}

    def items(self, caller: Caller, query: Mapping[str, str]) -> dict[str, Any]:
        self._access.region(caller.principal, "inbox.read")
        only = query.get("unread")
        if only not in (None, "true", "false"):
            raise BadRequest("unread is true or false")
        items = self._alerts.inbox(caller.principal.sub, only == "true")
        self._record(caller, "inbox.read", items)
        return {"items": items, "unread": self._alerts.unread(caller.principal.sub)}

    def mark_read(self, caller: Caller, body: InboxRead) -> dict[str, Any]:
        self._access.region(caller.principal, "inbox.update")
        keys = [inbox_sk(item_id) for item_id in dict.fromkeys(body.ids)]
        marked = [doc for key in keys if (doc := self._alerts.mark_read(caller.principal.sub, key)) is not None]
        if not marked:
            raise NotFound("no such inbox item")
        self._record(caller, "inbox.mark_read", marked)
        return {"marked": len(marked), "unread": self._alerts.unread(caller.principal.sub)}

    def _record(self, caller: Caller, action: str, alerts: list[dict[str, Any]]) -> None:
        by_tenant: dict[str, list[str]] = {}
        for alert in alerts:
            for tenant_id in alert.get("tenant_ids") or ():
                by_tenant.setdefault(tenant_id, []).append(alert["alert_id"])
        for tenant_id, alert_ids in sorted(by_tenant.items()):
            self._audit.commit(tenant_id, self._jurisdiction, caller.draft(
                action, f"tenants/{tenant_id}/alerts", count=len(alert_ids), alert_ids=alert_ids))
