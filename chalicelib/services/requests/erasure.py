"""Erasure by crypto-shredding, and the end of a restriction of processing: the two writes that change
what may be done with a learner at all.

Erasure destroys the learner's key item and leaves a tombstone, with its audit event, in one
transaction that also checks the legal-hold markers (``HoldService.erasure_guards``). When this
container read the learner within the minute, its wrapped key's fingerprint (from ``LearnerService``'s
short cache) names the key: the transaction deletes that key item only if it still is that key and
writes the tombstone only if the learner is live, so the erasure is one round trip and nothing read
earlier can be stale. Holds placed before the markers existed are asked for separately
(``HoldService.is_held_uncounted``). Lifting a restriction is likewise conditioned on exactly the
restriction a read here was refused for.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from chalicelib.adapters import consent_counts
from chalicelib.adapters.audit_store import AuditStore, ChangeRejected
from chalicelib.adapters.data_store import DataStore, live_profile
from chalicelib.domain.audit import format_at
from chalicelib.domain.consents import current_state, in_order
from chalicelib.domain.errors import Conflict, LegalHoldActive
from chalicelib.domain.ids import require_id
from chalicelib.domain.tenants import Tenant
from chalicelib.services.access import AccessControl
from chalicelib.services.consents import _record as consent_record
from chalicelib.services.context import Caller
from chalicelib.services.learners.service import LearnerService, learner_resource

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

DEFAULT_RECOVERY_WINDOW = timedelta(days=35)


class ErasureService:
    def __init__(self, access: AccessControl, store: DataStore, learners: LearnerService, audit: AuditStore,
                 clock: Callable[[], datetime], *,
                 holds: Callable[[Tenant, str], bool] | None = None,
                 hold_guards: Callable[[Tenant, str], list[TransactWriteItemTypeDef]] | None = None,
                 recovery_window: timedelta = DEFAULT_RECOVERY_WINDOW) -> None:
        """``holds(tenant, learner_id)``: whether a hold no marker counts covers the learner;
        ``hold_guards``: the conditions on the markers that every other hold is counted on."""
        self._access = access
        self._store = store
        self._learners = learners
        self._audit = audit
        self._clock = clock
        self._holds = holds or (lambda tenant, learner_id: False)
        self._hold_guards = hold_guards or (lambda tenant, learner_id: [])
        self._recovery_window = recovery_window

    def erase(self, caller: Caller, tenant_id: str, learner_id: str) -> dict[str, Any]:
        tenant = self._access.tenant(caller.principal, tenant_id, "learner.erase")
        require_id(learner_id, "lrn", "learner")
        return self.shred(caller, tenant, learner_id, "learner.erase")

    def shred(self, caller: Caller, tenant: Tenant, learner_id: str, action: str) -> dict[str, Any]:
        """Destroy the learner's key (crypto-shredding) and leave a tombstone; audited as ``action``.

        One round trip when this container holds the learner's wrapped key (the learner was touched here
        within the minute): its fingerprint names the key in the receipt, and the one transaction deletes
        the key item only if it is still that key, writes the tombstone only if the learner is live, and
        carries the hold markers' checks. Otherwise, or when a condition says the cache was stale, the key
        and profile are read first (404, 410 and the fingerprint come from them)."""
        held = self._holds(tenant, learner_id)  # holds no marker counts (placed before markers existed)
        cached = None if held else self._learners.cached_key_record(tenant, learner_id)
        self._learners.forget_learner(tenant.tenant_id, learner_id)
        if cached is not None:
            receipt = self._commit_shred(caller, tenant, learner_id, action, cached.fingerprint, has_key=True,
                                         read_consents=False)
            if receipt is not None:
                return receipt
        items = self._store.learner_items(tenant.jurisdiction, tenant.tenant_id, learner_id)
        live_profile(items.get("P"), "this learner was erased already")
        if held:
            raise LegalHoldActive("a legal hold blocks the erasure of this learner")
        key_item = items.get("K")
        fingerprint = key_item["fingerprint"]["S"] if key_item else ""
        receipt = self._commit_shred(caller, tenant, learner_id, action, fingerprint, has_key=key_item is not None)
        if receipt is None:
            raise Conflict("the learner changed during erasure; retry")
        return receipt

    def _commit_shred(self, caller: Caller, tenant: Tenant, learner_id: str, action: str, fingerprint: str, *,
                      has_key: bool, read_consents: bool = True) -> dict[str, Any] | None:
        """The erasure's transaction: its receipt, or None when the learner's items were not as expected
        (erased or changed meanwhile: the caller reads them); 409 ``legal_hold_active`` under a hold."""
        erased = self._clock()
        j, tid = tenant.jurisdiction, tenant.tenant_id
        changes = [self._store.tombstone_put(j, tid, learner_id, format_at(erased), fingerprint)]
        if has_key:
            changes.append(self._store.learner_key_delete(j, tid, learner_id, fingerprint))
        # the warm path first assumes no consent decision (most learners being erased have none): a learner
        # with one fails the consent counts' check and is erased by the read path, which reads them
        decisions = (in_order([consent_record(item) for item in self._store.records(j, tid, learner_id, "C")])
                     if read_consents else [])
        state = {purpose: record.granted for purpose, record in current_state(decisions).items()}
        changes += consent_counts.erased(self._store.table(j), tid, learner_id, state, len(decisions))
        guards = self._hold_guards(tenant, learner_id)  # a hold counted on a marker, even one placed just now
        changes += guards
        draft = caller.draft(action, learner_resource(tid, learner_id), learner_id=learner_id,
                             key_fingerprint=fingerprint)
        try:
            self._audit.commit(tid, j, draft, changes)
        except ChangeRejected as exc:
            if exc.index >= len(changes) - len(guards):
                raise LegalHoldActive("a legal hold blocks the erasure of this learner") from None
            return None
        return {"learner_id": learner_id, "erased_at": format_at(erased), "key_destroyed": has_key,
                "key_fingerprint": fingerprint, "backups_expire_by": format_at(erased + self._recovery_window)}

    def lift_restriction(self, caller: Caller, tenant_id: str, learner_id: str) -> dict[str, Any]:
        """End a restriction of processing (the data subject's grounds no longer apply); audited.

        The answer and the event name the restriction lifted (its ``restricted_at``): one round trip when
        this container saw it within the minute (a read refused 409 ``processing_restricted`` names it),
        the update then conditioned on exactly that restriction; otherwise the profile is read first."""
        tenant = self._access.tenant(caller.principal, tenant_id, "learner.unrestrict")
        require_id(learner_id, "lrn", "learner")
        seen = self._learners.seen_restriction(tenant, learner_id)
        if seen is not None:
            lifted = self._commit_lift(caller, tenant, learner_id, seen)
            if lifted is not None:
                return lifted
        self._learners.forget_learner(tenant.tenant_id, learner_id)
        profile = live_profile(self._store.learner_items(tenant.jurisdiction, tenant.tenant_id, learner_id).get("P"))
        if "restricted_at" not in profile:
            raise Conflict("processing of this learner is not restricted", reason="not_restricted")
        lifted = self._commit_lift(caller, tenant, learner_id, profile["restricted_at"]["S"])
        if lifted is None:
            raise Conflict("the learner changed meanwhile; read it again")
        return lifted

    def _commit_lift(self, caller: Caller, tenant: Tenant, learner_id: str,
                     restricted_at: str) -> dict[str, Any] | None:
        """Lift exactly the restriction placed at ``restricted_at`` with its event; None if it is not there."""
        self._learners.forget_learner(tenant.tenant_id, learner_id)
        lifted_at = format_at(self._clock())
        draft = caller.draft("learner.unrestrict", learner_resource(tenant.tenant_id, learner_id),
                             learner_id=learner_id, restricted_at=restricted_at)
        lift = self._store.unrestrict_update(tenant.jurisdiction, tenant.tenant_id, learner_id, restricted_at)
        try:
            self._audit.commit(tenant.tenant_id, tenant.jurisdiction, draft, [lift])
        except ChangeRejected:
            return None
        return {"learner_id": learner_id, "restricted_at": restricted_at, "lifted_at": lifted_at}
