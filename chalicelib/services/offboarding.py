"""Tenant offboarding (``DELETE /v1/tenants/{tenant_id}``, platform admins, in the tenant's home region).

Two steps, so that no single call destroys a tenant:

1. ``DELETE /v1/tenants/{id}`` records a pending offboarding (item ``OFFBOARD``, audited) and answers 202
   with its ``offboarding_id`` and ``confirmable_at``: now plus ``Settings.offboarding_wait_days``. Asking
   again answers the same pending offboarding.
2. ``DELETE /v1/tenants/{id}?confirm=<offboarding_id>`` once ``confirmable_at`` has passed: a final audit
   export (NDJSON, presigned), an access package of the whole tenant for the tenant's admin, then every
   tenant key version destroyed (each learner key is wrapped by one, so all learners are shredded at once),
   the directory entry tombstoned (the tenant then reads as unknown everywhere: 404) and a receipt.

The package holds personal data, so it is sealed with a fresh AES-256-GCM key that is returned once, in the
receipt, and stored nowhere: the bucket only ever holds ciphertext, and the platform cannot open it again.
An active legal hold (on the tenant or any learner) refuses either step with 409 ``legal_hold_active``;
the confirmation's transaction also checks the tenant's any-scope hold marker, so a hold placed after the
check and before the confirmation commits still refuses it (nothing is destroyed).
Order of the destructive part: the confirmation is committed with its audit event first (a retry then
skips the export and package and only finishes the destruction), keys are destroyed, then the entry is
tombstoned, then the tenant's route leaves the global entry's routing table (``edge_route`` in the receipt:
``synced``, or ``pending`` when that failed: alarmed and repaired by the reconciliation).
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from chalicelib.adapters.audit_store import AuditStore, ChangeRejected
from chalicelib.adapters.directory import TenantDirectory
from chalicelib.adapters.export_bucket import MAX_PRESIGN_SECONDS, ExportBucket
from chalicelib.adapters.governance_store import GovernanceStore
from chalicelib.domain.audit import format_at
from chalicelib.domain.audit_exports import AuditExportCreate
from chalicelib.domain.errors import Conflict, Gone, LegalHoldActive, NotFound
from chalicelib.domain.ids import new_id
from chalicelib.domain.tenants import Tenant
from chalicelib.services.access import AccessControl
from chalicelib.services.audit import AuditService
from chalicelib.services.context import Caller
from chalicelib.services.holds import HoldService
from chalicelib.services.keys import TenantKeyService
from chalicelib.services.learners import LearnerService

PACKAGE_FORMAT = "enclave.tenant-package/1"


class OffboardingService:
    def __init__(self, access: AccessControl, governance: GovernanceStore, holds: HoldService,
                 learners: LearnerService, keys: TenantKeyService, audit: AuditService, audit_store: AuditStore,
                 bucket: ExportBucket, directory: TenantDirectory, clock: Callable[[], datetime],
                 wait: timedelta, on_offboarded: Callable[[str], str] | None = None) -> None:
        self._on_offboarded = on_offboarded or (lambda tenant_id: "disabled")
        self._access = access
        self._governance = governance
        self._holds = holds
        self._learners = learners
        self._keys = keys
        self._audit = audit
        self._audit_store = audit_store
        self._bucket = bucket
        self._directory = directory
        self._clock = clock
        self._wait = wait

    def offboard(self, caller: Caller, tenant_id: str, confirm: str | None) -> tuple[int, dict[str, Any]]:
        """``(status, body)``: 202 for the request (or the pending one), 200 with the receipt on confirmation."""
        tenant = self._access.tenant(caller.principal, tenant_id, "tenant.offboard")
        self._refuse_if_held(tenant)
        pending = self._governance.offboarding(tenant.jurisdiction, tenant.tenant_id)
        if confirm is None:
            return 202, self._pending_view(pending) if pending else self._request(caller, tenant)
        if pending is None or confirm != pending["offboarding_id"]:
            raise Conflict("confirm with the offboarding_id of the pending offboarding (request it first)",
                           reason="offboarding_not_requested")
        if self._clock() < datetime.fromisoformat(pending["confirmable_at"]):
            raise Conflict("the waiting period has not passed", reason="offboarding_waiting_period",
                           confirmable_at=pending["confirmable_at"])
        return 200, self._confirm(caller, tenant, pending)

    def _refuse_if_held(self, tenant: Tenant) -> None:
        whole, learners = self._holds.active(tenant)
        if whole or learners:
            raise LegalHoldActive("a legal hold is active on this tenant; offboarding must wait until it is lifted")

    def _request(self, caller: Caller, tenant: Tenant) -> dict[str, Any]:
        now = self._clock()
        pending = {"offboarding_id": new_id("off"), "tenant_id": tenant.tenant_id, "requested_at": format_at(now),
                   "confirmable_at": format_at(now + self._wait), "requested_by": caller.principal.sub}
        draft = caller.draft("tenant.offboard_request", f"tenants/{tenant.tenant_id}",
                             offboarding_id=pending["offboarding_id"], confirmable_at=pending["confirmable_at"])
        try:
            self._audit_store.commit(tenant.tenant_id, tenant.jurisdiction, draft, [
                self._governance.offboarding_put(tenant.jurisdiction, tenant.tenant_id, pending)])
        except ChangeRejected:  # a concurrent request recorded one first: answer that one
            found = self._governance.offboarding(tenant.jurisdiction, tenant.tenant_id)
            if found is None:
                raise Conflict("the offboarding could not be requested; retry") from None
            pending = found
        return self._pending_view(pending)

    @staticmethod
    def _pending_view(pending: dict[str, str]) -> dict[str, Any]:
        return {"tenant_id": pending["tenant_id"], "status": "pending", "offboarding_id": pending["offboarding_id"],
                "requested_at": pending["requested_at"], "confirmable_at": pending["confirmable_at"],
                "confirm": f"DELETE /v1/tenants/{pending['tenant_id']}?confirm={pending['offboarding_id']}"}

    def _confirm(self, caller: Caller, tenant: Tenant, pending: dict[str, str]) -> dict[str, Any]:
        receipt: dict[str, Any] = {"tenant_id": tenant.tenant_id, "offboarding_id": pending["offboarding_id"]}
        if "keys_destroyed_at" not in pending:  # a retry after the confirmation only finishes the destruction
            receipt["audit_export"] = self._audit.export(caller, tenant.tenant_id, AuditExportCreate())
            receipt["access_package"] = self._package(tenant, pending["offboarding_id"])
            now = format_at(self._clock())
            draft = caller.draft("tenant.offboard", f"tenants/{tenant.tenant_id}",
                                 offboarding_id=pending["offboarding_id"],
                                 audit_export_id=receipt["audit_export"]["export_id"],
                                 package_learners=receipt["access_package"]["learners"])
            try:
                self._audit_store.commit(tenant.tenant_id, tenant.jurisdiction, draft, [
                    self._governance.offboarding_confirm(tenant.jurisdiction, tenant.tenant_id,
                                                         pending["offboarding_id"], now),
                    self._holds.offboarding_guard(tenant)])
            except ChangeRejected as exc:
                if exc.index == 1:
                    raise LegalHoldActive("a legal hold was placed on this tenant meanwhile; offboarding must "
                                          "wait until it is lifted") from None
                raise Conflict("this offboarding was confirmed meanwhile; retry to finish it") from None
            pending = {**pending, "keys_destroyed_at": now}
        receipt["key_versions_destroyed"] = self._keys.destroy_all_versions(tenant)
        self._directory.tombstone(tenant.tenant_id, pending["keys_destroyed_at"])
        receipt.update(status="offboarded", offboarded_at=pending["keys_destroyed_at"], key_destroyed=True,
                       directory="tombstoned", edge_route=self._on_offboarded(tenant.tenant_id))
        return receipt

    def _package(self, tenant: Tenant, offboarding_id: str) -> dict[str, Any]:
        """Every live learner of the tenant, decrypted, sealed with a one-time key returned only here.

        Restricted learners are in it too, each marked ``restricted_at`` (the data leaves with its controller)."""
        learners, skipped = [], 0
        for learner_id in self._learners.learner_ids(tenant):
            try:
                learners.append(self._learners.handover(tenant, learner_id))
            except (Gone, NotFound):
                skipped += 1  # erased: nothing left to hand over
        document = {"format": PACKAGE_FORMAT, "tenant_id": tenant.tenant_id, "learners": learners,
                    "generated_at": format_at(self._clock())}
        key, nonce = AESGCM.generate_key(bit_length=256), os.urandom(12)
        aad = f"{PACKAGE_FORMAT}:{tenant.tenant_id}:{offboarding_id}".encode()
        sealed = AESGCM(key).encrypt(nonce, json.dumps(document, ensure_ascii=False).encode(), aad)
        object_key = f"offboarding/{tenant.tenant_id}/{offboarding_id}/tenant-package.aesgcm"
        self._bucket.upload_lines(object_key, [base64.b64encode(nonce + sealed).decode()], "text/plain")
        expires = self._clock() + timedelta(seconds=MAX_PRESIGN_SECONDS)
        return {"download_url": self._bucket.presigned_get(object_key), "expires_at": format_at(expires),
                "learners": len(learners), "skipped": skipped,
                "restricted": sum("restricted_at" in learner for learner in learners), "format": PACKAGE_FORMAT,
                "encryption": "AES-256-GCM; base64(nonce[12] || ciphertext || tag); associated data "
                              f"'{aad.decode()}'",
                "package_key": base64.b64encode(key).decode()}
