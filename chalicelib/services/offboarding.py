"""Tenant offboarding (``DELETE /v1/tenants/{tenant_id}``, platform admins, in the tenant's home region).

Two steps, so that no single call destroys a tenant:

1. ``DELETE /v1/tenants/{id}`` records a pending offboarding (item ``OFFBOARD``, audited) and answers 202
   with its ``offboarding_id`` and ``confirmable_at``: now plus ``Settings.offboarding_wait_days``. Asking
   again answers the same pending offboarding.
2. ``DELETE /v1/tenants/{id}?confirm=<offboarding_id>`` once ``confirmable_at`` has passed: a final audit
   export (NDJSON, presigned), an access package of the whole tenant for the tenant's admin, then every
   tenant key version destroyed (each learner key is wrapped by one, so all learners are shredded at once),
   the directory entry tombstoned (the tenant then reads as unknown everywhere: 404) and a receipt.

The package holds personal data, so it is sealed with a fresh AES-256-GCM key that goes to the platform
admin who confirmed, in the receipt; the bucket only ever holds ciphertext. The key is kept only wrapped by
the tenant's newest key version, on the offboarding item, so that a retry by the same admin after a crash
gets the same package and key again; once the tenant keys are destroyed nobody can open it again.
An active legal hold (on the tenant or any learner) refuses either step with 409 ``legal_hold_active``;
the confirmation's transaction also checks the tenant's any-scope hold marker, so a hold placed after the
check and before the confirmation commits still refuses it (nothing is destroyed); a hold, a new key
version or an enrolment after the confirmation is refused by its own transaction (409
``tenant_offboarding``). One confirmation runs at a time (a claim on the item, taken over after
``CLAIM_LEASE``): a concurrent one answers 409 ``offboarding_in_progress``, or the receipt once confirmed.
Order of the destructive part: the confirmation is committed with its audit event first (a retry then
answers the stored receipt and only finishes the destruction), learner keys and key versions are destroyed
until none is left, then the entry is tombstoned, then the tenant's route leaves the global entry's routing
table (``edge_route`` in the receipt: ``synced``, or ``pending`` when that failed: alarmed and repaired by
the reconciliation). Other warm processes stop serving the tenant within ``REVOCATION_SECONDS``
(docs/key-lifecycle.md).
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from chalicelib.adapters.audit_store import AuditStore, ChangeRejected
from chalicelib.adapters.directory import TenantDirectory
from chalicelib.adapters.export_bucket import MAX_PRESIGN_SECONDS, ExportBucket
from chalicelib.adapters.governance_store import GovernanceStore
from chalicelib.domain.audit import format_at
from chalicelib.domain.audit.export_request import AuditExportCreate
from chalicelib.domain.crypto import WrappedLearnerKey
from chalicelib.domain.errors import (
    Conflict,
    Gone,
    IntegrityError,
    LegalHoldActive,
    NotFound,
    OffboardingInProgress,
    ServiceUnavailable,
)
from chalicelib.domain.ids import new_id
from chalicelib.domain.tenants import Tenant
from chalicelib.services.access import AccessControl
from chalicelib.services.audit.trail import AuditService
from chalicelib.services.context import Caller
from chalicelib.services.holds import HoldService
from chalicelib.services.keys.tenant_keys import TenantKeyService
from chalicelib.services.learners.service import LearnerService

PACKAGE_FORMAT = "enclave.tenant-package/1"
CLAIM_LEASE = timedelta(minutes=15)
"""How long a confirmation in progress keeps others out: a function's longest run, so a retry after a
gateway timeout answers 409 while the first attempt still works; one that crashed is taken over after it."""


CONFIRMATION_DESTROYS = (
    "every learner record of the tenant (every tenant key version is destroyed: all of it is shredded at once)",
    "the tenant's directory entry (the tenant then reads as unknown in every region)",
    "the tenant's route in the global entry",
)
"""What the confirmation destroys, as the pending offboarding tells whoever is about to confirm it."""
CONFIRMATION_KEEPS = (
    "a final export of the tenant's audit trail (NDJSON, signed checkpoints)",
    "an access package of the whole tenant for the tenant's admin, sealed with a key given to the admin who "
    "confirms",
)

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

    def _pending_view(self, pending: dict[str, str]) -> dict[str, Any]:
        return {"tenant_id": pending["tenant_id"], "status": "pending", "offboarding_id": pending["offboarding_id"],
                "requested_at": pending["requested_at"], "confirmable_at": pending["confirmable_at"],
                "waiting_days": self._wait.days, "destroys": list(CONFIRMATION_DESTROYS),
                "keeps": list(CONFIRMATION_KEEPS),
                "confirm": f"DELETE /v1/tenants/{pending['tenant_id']}?confirm={pending['offboarding_id']}"}

    def _confirm(self, caller: Caller, tenant: Tenant, pending: dict[str, str]) -> dict[str, Any]:
        fresh: tuple[dict[str, Any], bytes] | None = None
        if "keys_destroyed_at" not in pending:
            fresh = self._first_confirmation(caller, tenant, pending)
        item = fresh[0] if fresh else self._governance.offboarding_item(tenant.jurisdiction, tenant.tenant_id)
        if item is None:
            raise Conflict("the offboarding could not be read back; retry")
        confirmed_at = item["keys_destroyed_at"]["S"]
        # the receipt (and the package key) first: once the keys are destroyed the key cannot be recovered
        receipt: dict[str, Any] = {"tenant_id": tenant.tenant_id, "offboarding_id": pending["offboarding_id"],
                                   **self._handover(caller, tenant, pending["offboarding_id"], item,
                                                     fresh[1] if fresh else None)}
        receipt["key_versions_destroyed"] = self._keys.destroy_all_versions(tenant)
        self._directory.tombstone(tenant.tenant_id, confirmed_at)
        receipt.update(status="offboarded", offboarded_at=confirmed_at, key_destroyed=True,
                       directory="tombstoned", edge_route=self._on_offboarded(tenant.tenant_id))
        return receipt

    def _first_confirmation(self, caller: Caller, tenant: Tenant,
                            pending: dict[str, str]) -> tuple[dict[str, Any], bytes] | None:
        """Claim the confirmation, export, package and commit it; ``(the confirmed item, the package key)``,
        or None when a concurrent confirmation committed first (its receipt is then answered)."""
        j, tid, offboarding_id = tenant.jurisdiction, tenant.tenant_id, pending["offboarding_id"]
        claim, now = uuid.uuid4().hex, self._clock()
        if not self._governance.offboarding_claim(j, tid, offboarding_id, claim, format_at(now),
                                                  format_at(now - CLAIM_LEASE)):
            if self._confirmed(tenant):
                return None
            raise OffboardingInProgress("another request is confirming this offboarding; retry shortly for "
                                        "its receipt", retry_after=30)
        try:
            return self._export_package_commit(caller, tenant, offboarding_id, now)
        except BaseException:
            self._governance.offboarding_release(j, tid, claim)  # let a retry (or another admin) confirm
            raise

    def _export_package_commit(self, caller: Caller, tenant: Tenant, offboarding_id: str,
                               now: datetime) -> tuple[dict[str, Any], bytes] | None:
        export = self._audit.export(caller, tenant.tenant_id, AuditExportCreate())
        package, key = self._package(tenant, offboarding_id)
        # the package key, wrapped by the tenant key: recoverable by a retry until the keys are destroyed
        wrapped = self._keys.keys_for(tenant).newest.wrap(offboarding_id, 1, key)
        attributes: dict[str, Any] = {
            "confirmed_by": {"S": caller.principal.sub}, "audit_export_id": {"S": export["export_id"]},
            "audit_export_events": {"N": str(export["events"])}, "audit_export_head": {"S": export["head_hash"]},
            "package_learners": {"N": str(package["learners"])}, "package_skipped": {"N": str(package["skipped"])},
            "package_restricted": {"N": str(package["restricted"])}, "package_key_blob": {"B": wrapped.blob},
            "package_key_version": {"N": str(wrapped.tenant_key_version)},
            "package_key_fingerprint": {"S": wrapped.fingerprint}}
        confirmed_at = format_at(now)
        draft = caller.draft("tenant.offboard", f"tenants/{tenant.tenant_id}", offboarding_id=offboarding_id,
                             audit_export_id=export["export_id"], package_learners=package["learners"])
        try:
            self._audit_store.commit(tenant.tenant_id, tenant.jurisdiction, draft, [
                self._governance.offboarding_confirm(tenant.jurisdiction, tenant.tenant_id, offboarding_id,
                                                     confirmed_at, attributes),
                self._holds.offboarding_guard(tenant)])
        except ChangeRejected as exc:
            if exc.index == 1:
                raise LegalHoldActive("a legal hold was placed on this tenant meanwhile; offboarding must "
                                      "wait until it is lifted") from None
            if self._confirmed(tenant):
                return None
            raise Conflict("this offboarding changed meanwhile; retry") from None
        return {**attributes, "keys_destroyed_at": {"S": confirmed_at}}, key

    def _confirmed(self, tenant: Tenant) -> bool:
        found = self._governance.offboarding(tenant.jurisdiction, tenant.tenant_id)
        return found is not None and "keys_destroyed_at" in found

    def _handover(self, caller: Caller, tenant: Tenant, offboarding_id: str, item: dict[str, Any],
                  key: bytes | None) -> dict[str, Any]:
        """The receipt's audit export and package. The package key goes to the caller who confirmed only: at
        once, or on a retry while the tenant's keys still exist (unwrapped from the offboarding item)."""
        tid = tenant.tenant_id
        if "confirmed_by" not in item:  # confirmed before receipts were kept: only the destruction is left
            return {}
        expires = format_at(self._clock() + timedelta(seconds=MAX_PRESIGN_SECONDS))
        export_id = item["audit_export_id"]["S"]
        export = {"export_id": export_id, "format": "ndjson", "events": int(item["audit_export_events"]["N"]),
                  "head_hash": item["audit_export_head"]["S"], "expires_at": expires,
                  "download_url": self._bucket.presigned_get(f"audit/{tid}/{export_id}.ndjson")}
        aad = f"{PACKAGE_FORMAT}:{tid}:{offboarding_id}"
        package: dict[str, Any] = {
            "download_url": self._bucket.presigned_get(package_object(tid, offboarding_id)), "expires_at": expires,
            "learners": int(item["package_learners"]["N"]), "skipped": int(item["package_skipped"]["N"]),
            "restricted": int(item["package_restricted"]["N"]), "format": PACKAGE_FORMAT,
            "encryption": f"AES-256-GCM; base64(nonce[12] || ciphertext || tag); associated data '{aad}'"}
        if caller.principal.sub != item["confirmed_by"]["S"]:
            package["package_key"] = None
            package["package_key_status"] = "given to the platform admin who confirmed the offboarding"
            return {"audit_export": export, "access_package": package}
        if key is None:
            key = self._recover_key(tenant, offboarding_id, item)
        package["package_key"] = base64.b64encode(key).decode() if key else None
        if key is None:
            package["package_key_status"] = "destroyed with the tenant's keys"
        return {"audit_export": export, "access_package": package}

    def _recover_key(self, tenant: Tenant, offboarding_id: str, item: dict[str, Any]) -> bytes | None:
        """The package key a crashed confirmation wrapped, while the tenant key version wrapping it exists."""
        record = WrappedLearnerKey(tenant.tenant_id, offboarding_id, 1,
                                   int(item["package_key_version"]["N"]), item["package_key_fingerprint"]["S"],
                                   item["package_key_blob"]["B"])
        try:
            return self._keys.reloaded(tenant).get(record.tenant_key_version).unwrap_secret(record)
        except (IntegrityError, ServiceUnavailable, NotFound):
            return None

    def _package(self, tenant: Tenant, offboarding_id: str) -> tuple[dict[str, int], bytes]:
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
        self._bucket.upload_lines(package_object(tenant.tenant_id, offboarding_id),
                                  [base64.b64encode(nonce + sealed).decode()], "text/plain")
        counts = {"learners": len(learners), "skipped": skipped,
                  "restricted": sum("restricted_at" in learner for learner in learners)}
        return counts, key


def package_object(tenant_id: str, offboarding_id: str) -> str:
    """Where the final package of an offboarding lies in the regional export bucket (ciphertext only)."""
    return f"offboarding/{tenant_id}/{offboarding_id}/tenant-package.aesgcm"
