"""Who acts, as the services and the audit trail need it: a person in a request (``Caller``) or the scheduler
(``SystemCaller``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.domain.audit import AuditEventDraft
from chalicelib.domain.identity import Principal


@dataclass(frozen=True)
class Caller:
    principal: Principal
    request_id: str

    def draft(self, action: str, resource: str, outcome: str = "success", **details: Any) -> AuditEventDraft:
        """An audit event of this caller; ``details`` must hold identifiers and counts only."""
        return AuditEventDraft(actor_sub=self.principal.sub, actor_role=self.principal.role.value, action=action,
                               resource=resource, outcome=outcome, request_id=self.request_id, details=details)


@dataclass(frozen=True)
class SystemCaller(Caller):
    """The scheduler: audited with role ``system`` (no person asked for this sweep)."""

    def draft(self, action: str, resource: str, outcome: str = "success", **details: Any) -> AuditEventDraft:
        return AuditEventDraft(actor_sub=self.principal.sub, actor_role="system", action=action, resource=resource,
                               outcome=outcome, request_id=self.request_id, details=details)
