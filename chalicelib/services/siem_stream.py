"""A compliance officer's switch of a tenant's OCSF stream (``/v1/tenants/{tenant_id}/audit/stream``).

Reading and switching are Cedar-authorized (``audit.read``, ``audit.stream``) and audited; a switch is
written in the transaction of its audit event, so the stream's state never changes unrecorded. Switching
leaves the delivery cursor where it is: on again, delivery resumes from it (back-filling what was sealed
meanwhile). Delivery itself is the sequencer's (``services/siem_delivery.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from chalicelib.adapters.audit_store import AuditStore
from chalicelib.adapters.siem_cursor import SiemCursors, StreamState
from chalicelib.domain.audit import format_at
from chalicelib.domain.ocsf import OCSF_VERSION, SOURCE_NAME, StreamSwitch
from chalicelib.domain.tenants import Tenant
from chalicelib.services.access import AccessControl
from chalicelib.services.context import Caller


def stream_resource(tenant_id: str) -> str:
    return f"tenants/{tenant_id}/audit/stream"


class SiemStreamService:
    def __init__(self, access: AccessControl, cursors: SiemCursors, audit: AuditStore, clock: Callable[[], datetime],
                 bucket: str, region: str, account_id: str) -> None:
        self._access = access
        self._cursors = cursors
        self._audit = audit
        self._clock = clock
        self._bucket = bucket
        self._region = region
        self._account_id = account_id

    def read(self, caller: Caller, tenant_id: str) -> dict[str, Any]:
        tenant = self._access.tenant(caller.principal, tenant_id, "audit.read")
        state = self._cursors.state(tenant.jurisdiction, tenant.tenant_id)
        self._audit.commit(tenant.tenant_id, tenant.jurisdiction,
                           caller.draft("siem_stream.read", stream_resource(tenant.tenant_id)))
        return self._view(tenant, state)

    def switch(self, caller: Caller, tenant_id: str, body: StreamSwitch) -> dict[str, Any]:
        tenant = self._access.tenant(caller.principal, tenant_id, "audit.stream")
        at = format_at(self._clock())
        change = self._cursors.switch(tenant.jurisdiction, tenant.tenant_id, body.enabled, at, caller.principal.sub)
        draft = caller.draft("siem_stream.update", stream_resource(tenant.tenant_id), enabled=body.enabled)
        self._audit.commit(tenant.tenant_id, tenant.jurisdiction, draft, [change])
        return self._view(tenant, self._cursors.state(tenant.jurisdiction, tenant.tenant_id))

    def _view(self, tenant: Tenant, state: StreamState) -> dict[str, Any]:
        prefix = (f"s3://{self._bucket}/ext/{SOURCE_NAME}/region={self._region}/accountId={self._account_id}/"
                  f"eventDay=*/tenant={tenant.tenant_id}/")
        return {"tenant_id": tenant.tenant_id, "enabled": state.enabled, "delivered_seq": state.delivered,
                "changed_at": state.changed_at, "changed_by": state.changed_by,
                "format": f"OCSF {OCSF_VERSION} API Activity (class_uid 6003), gzip NDJSON", "location": prefix}
