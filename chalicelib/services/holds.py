"""Legal holds: place, lift, list, and the check that erasure and retention ask before destroying.

Every operation resolves the tenant through ``AccessControl`` first (404/403/421) and commits its
audit event in the same transaction as its change. The hold's reason is encrypted with a subject key
of the hold's own (``TenantKeys.new_learner_key(hold_id)``: random, wrapped by the tenant key with
associated data naming tenant and hold), so the free text is never stored in plaintext and cannot be
moved to another record.

A hold and an erasure in the same instant: placing a hold counts it on a marker item (per learner, or
per tenant) in the hold's transaction, which also checks the learner is not erased; an erasure's
transaction ConditionChecks both markers (``erasure_guards``). DynamoDB serialises the two transactions,
so whichever commits second sees the other: the hold is 410, or the erasure 409 ``legal_hold_active``.
Holds placed before the markers existed are counted nowhere: an erasure asks for them
(``is_held_uncounted``, one query, remembered for a minute once a tenant has none).
Every hold is also counted on the tenant's ``HM#any`` marker (``any_marked``), which offboarding's
confirmation checks in its transaction (``offboarding_guard``): a hold placed between the check and the
confirmation refuses it. The other way round, a hold's transaction checks the offboarding is not
confirmed (409 ``tenant_offboarding``): a hold never lands on a tenant whose keys are being destroyed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from chalicelib.adapters.audit_store import AuditStore, ChangeRejected
from chalicelib.adapters.data_store import DataStore, envelopes_of, live_profile
from chalicelib.adapters.governance_store import GovernanceStore
from chalicelib.domain.audit import format_at
from chalicelib.domain.cache import TtlCache
from chalicelib.domain.crypto import LearnerKey, WrappedLearnerKey
from chalicelib.domain.errors import BadRequest, Conflict, NotFound, TenantOffboarding
from chalicelib.domain.holds import HOLD_LIFT_RECORD, HOLD_RECORD, HoldCreate, HoldLift, hold_view
from chalicelib.domain.ids import new_id, require_id
from chalicelib.domain.tenants import Tenant
from chalicelib.services.access import AccessControl
from chalicelib.services.context import Caller
from chalicelib.services.idempotency import Idempotency
from chalicelib.services.keys.tenant_keys import TenantKeyService

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef


UNCOUNTED_TTL_SECONDS = 60.0


def holds_resource(tenant_id: str) -> str:
    return f"tenants/{tenant_id}/legal-holds"


class HoldService:
    def __init__(self, access: AccessControl, store: GovernanceStore, data: DataStore, keys: TenantKeyService,
                 audit: AuditStore, idempotency: Idempotency, clock: Callable[[], datetime]) -> None:
        self._access = access
        self._store = store
        self._data = data
        self._keys = keys
        self._audit = audit
        self._idempotency = idempotency
        self._clock = clock
        # tenants found without an uncounted hold: none can appear (every hold placed now is counted)
        self._none_uncounted: TtlCache[str, bool] = TtlCache(4096, UNCOUNTED_TTL_SECONDS)
        # active hold items as a listing read them (no plaintext), briefly: see ``lift``
        self._listed: TtlCache[tuple[str, str], dict[str, Any]] = TtlCache(4096, UNCOUNTED_TTL_SECONDS)

    # -- the check erasure and retention ask ---------------------------------------------------------

    def is_held(self, tenant: Tenant, learner_id: str) -> bool:
        """Whether an active hold covers ``learner_id`` (a hold on the learner or on the whole tenant)."""
        return any(held in (None, learner_id) for held in self._store.active_holds(tenant.jurisdiction,
                                                                                    tenant.tenant_id))

    def is_held_uncounted(self, tenant: Tenant, learner_id: str) -> bool:
        """Whether an active hold that no marker counts (placed before the markers existed) covers the
        learner: what an erasure must ask besides its ``erasure_guards``. A tenant found with none is
        remembered for a minute and asked nothing (holds placed since are all counted; one is only lifted)."""
        if self._none_uncounted.get(tenant.tenant_id):
            return False
        held = self._store.uncounted_active_holds(tenant.jurisdiction, tenant.tenant_id)
        if not held:
            self._none_uncounted.put(tenant.tenant_id, True)
        return any(scope in (None, learner_id) for scope in held)

    def erasure_guards(self, tenant: Tenant, learner_id: str) -> list[TransactWriteItemTypeDef]:
        """Conditions for an erasure's transaction: no hold counted on the learner or the whole tenant."""
        return [self._store.no_hold_check(tenant.jurisdiction, tenant.tenant_id, learner_id),
                self._store.no_hold_check(tenant.jurisdiction, tenant.tenant_id, None)]

    def offboarding_guard(self, tenant: Tenant) -> TransactWriteItemTypeDef:
        """A condition for offboarding's confirmation: no hold of any scope counted on the tenant."""
        return self._store.no_hold_at_all_check(tenant.jurisdiction, tenant.tenant_id)

    def active(self, tenant: Tenant) -> tuple[bool, frozenset[str]]:
        """``(whole tenant held, learners held one by one)``, in one query."""
        held = self._store.active_holds(tenant.jurisdiction, tenant.tenant_id)
        return None in held, frozenset(h for h in held if h is not None)

    # -- place -------------------------------------------------------------------------------------

    def place(self, caller: Caller, tenant_id: str, body: HoldCreate,
              idempotency_key: str | None = None) -> dict[str, Any]:
        tenant = self._access.tenant(caller.principal, tenant_id, "legal_hold.create")
        keys = self._keys.keys_for(tenant)
        scope = self._idempotency.scope(caller, tenant, "legal-holds", body, idempotency_key, ("reason",))
        # No read before the write: the transaction checks the learner (exists, not erased) and the claim;
        # only a refusal reads, to replay a retry or say 404/410 (one round trip on the way that succeeds)
        hold_id = new_id("hld")
        hold_key, wrapped = keys.new_learner_key(hold_id)
        envelopes = hold_key.cipher.encrypt_record(HOLD_RECORD, {"reason": body.reason})
        placed_at = format_at(self._clock())
        attributes = {"hold_id": hold_id, "tenant_id": tenant.tenant_id, "category": body.category,
                      "placed_at": placed_at, "placed_by": caller.principal.sub, "marked": "1",
                      "any_marked": "1"}
        if body.learner_id is not None:
            attributes["learner_id"] = body.learner_id
        changes = [self._store.hold_put(tenant.jurisdiction, tenant.tenant_id, attributes, envelopes, wrapped)]
        if body.learner_id is not None:
            changes.append(self._data.learner_exists_check(tenant.jurisdiction, tenant.tenant_id, body.learner_id))
        changes.append(self._store.hold_marker_add(tenant.jurisdiction, tenant.tenant_id, body.learner_id, 1))
        changes.append(self._store.any_hold_add(tenant.jurisdiction, tenant.tenant_id, 1))
        guard = len(changes)
        changes.append(self._store.not_offboarded_check(tenant.jurisdiction, tenant.tenant_id))
        changes += self._idempotency.claims(scope, hold_id)
        draft = caller.draft("legal_hold.create", f"{holds_resource(tenant.tenant_id)}/{hold_id}",
                             hold_id=hold_id, scope=body.scope, category=body.category,
                             **({"learner_id": body.learner_id} if body.learner_id else {}))
        try:
            self._audit.commit(tenant.tenant_id, tenant.jurisdiction, draft, changes)
        except ChangeRejected as exc:
            if exc.index == guard:
                raise TenantOffboarding("this tenant's offboarding is confirmed: no legal hold can be placed "
                                        "any more") from None
            earlier = self._idempotency.earlier(scope)  # a retry: an earlier request holds the claim
            if earlier is not None:
                return self._existing(tenant, earlier, body.reason)
            if body.learner_id is not None and exc.index == 1:
                self._require_learner(tenant, body.learner_id)  # 404 unknown, 410 erased
            raise Conflict("the hold could not be placed; retry") from None
        item = {name: {"S": value} for name, value in attributes.items()}
        return hold_view(item, body.reason)

    def _require_learner(self, tenant: Tenant, learner_id: str) -> None:
        live_profile(self._data.learner_items(tenant.jurisdiction, tenant.tenant_id, learner_id).get("P"),
                     "this learner was erased; there is nothing left to hold")

    def _existing(self, tenant: Tenant, hold_id: str, reason: str) -> dict[str, Any]:
        """The hold an earlier request with this key placed; 409 if its (decrypted) reason differs."""
        item = self._store.hold(tenant.jurisdiction, tenant.tenant_id, hold_id)
        if item is None:
            raise NotFound("no such legal hold")
        stored = self._reason(tenant, item)
        self._idempotency.same_personal({"reason": stored}, {"reason": reason})
        return hold_view(item, stored)

    # -- lift --------------------------------------------------------------------------------------

    def lift(self, caller: Caller, tenant_id: str, hold_id: str, body: HoldLift | None = None) -> dict[str, Any]:
        """Lift a hold; the answer is the hold with its decrypted reason (and the reason for lifting it, if
        given: sealed with the hold's key). One round trip when this container listed the hold within the
        minute (its item from the short cache: placement attributes never change, and the update is
        conditioned on the hold still being active); otherwise the hold is read first."""
        tenant = self._access.tenant(caller.principal, tenant_id, "legal_hold.delete")
        lift_reason = body.reason if body is not None else None
        require_id(hold_id, "hld", "legal hold")
        seen = self._listed.get((tenant.tenant_id, hold_id))
        self._listed.discard((tenant.tenant_id, hold_id))
        if seen is not None and int(seen["tenant_key_version"]["N"]) in self._keys.keys_for(tenant).versions:
            lifted = self._commit_lift(caller, tenant, hold_id, seen, lift_reason)
            if lifted is not None:
                return lifted
        item = self._store.hold(tenant.jurisdiction, tenant.tenant_id, hold_id)
        if item is None:
            raise NotFound("no such legal hold")
        if "lifted_at" in item:
            raise Conflict("this legal hold was lifted already", lifted_at=item["lifted_at"]["S"])
        lifted = self._commit_lift(caller, tenant, hold_id, item, lift_reason)
        if lifted is None:
            raise Conflict("this legal hold changed meanwhile (lifted already?); read it again")
        return lifted

    def _commit_lift(self, caller: Caller, tenant: Tenant, hold_id: str, item: dict[str, Any],
                     lift_reason: str | None = None) -> dict[str, Any] | None:
        """Lift the active hold ``item`` with its event (markers counted down); None if it is not active."""
        lifted_at = format_at(self._clock())
        sealed = None
        if lift_reason is not None:
            sealed = self._hold_key(tenant, item).cipher.encrypt_record(HOLD_LIFT_RECORD, {"reason": lift_reason})
        changes = [self._store.hold_lift(tenant.jurisdiction, tenant.tenant_id, hold_id, lifted_at,
                                         caller.principal.sub, sealed)]
        if "marked" in item:  # holds placed before the markers existed were never counted
            learner_id = item["learner_id"]["S"] if "learner_id" in item else None
            changes.append(self._store.hold_marker_add(tenant.jurisdiction, tenant.tenant_id, learner_id, -1))
        if "any_marked" in item:  # nor were those placed before the any-scope marker
            changes.append(self._store.any_hold_add(tenant.jurisdiction, tenant.tenant_id, -1))
        details: dict[str, Any] = {"hold_id": hold_id, "scope": "learner" if "learner_id" in item else "tenant",
                                   "reason_given": lift_reason is not None}
        if "learner_id" in item:
            details["learner_id"] = item["learner_id"]["S"]
        draft = caller.draft("legal_hold.delete", f"{holds_resource(tenant.tenant_id)}/{hold_id}", **details)
        try:
            self._audit.commit(tenant.tenant_id, tenant.jurisdiction, draft, changes)
        except ChangeRejected:
            return None
        lifted = {**item, "lifted_at": {"S": lifted_at}, "lifted_by": {"S": caller.principal.sub}}
        return hold_view(lifted, self._reason(tenant, item), lift_reason)

    # -- list --------------------------------------------------------------------------------------

    def list_holds(self, caller: Caller, tenant_id: str, active_only: str | None = None) -> dict[str, Any]:
        tenant = self._access.tenant(caller.principal, tenant_id, "legal_hold.read")
        if active_only not in (None, "true", "false"):
            raise BadRequest("active must be true or false")
        items = self._store.holds(tenant.jurisdiction, tenant.tenant_id)
        for item in items:  # ciphertext and wrapped key only: lifting one of them then needs no read
            if "lifted_at" not in item:
                self._listed.put((tenant.tenant_id, item["hold_id"]["S"]), item)
        if active_only == "true":
            items = [item for item in items if "lifted_at" not in item]
        views = sorted((hold_view(item, self._reason(tenant, item), self._lift_reason(tenant, item)) for item in items),
                       key=lambda view: (view["placed_at"] or "", view["hold_id"] or ""))
        self._audit.commit(tenant.tenant_id, tenant.jurisdiction,
                           caller.draft("legal_hold.read", holds_resource(tenant.tenant_id), count=len(views),
                                        hold_ids=[view["hold_id"] for view in views]))
        return {"items": views}

    def _hold_key(self, tenant: Tenant, item: dict[str, Any]) -> LearnerKey:
        record = WrappedLearnerKey(tenant.tenant_id, item["hold_id"]["S"], int(item["key_version"]["N"]),
                                   int(item["tenant_key_version"]["N"]), item["fingerprint"]["S"], item["blob"]["B"])
        return self._keys.unwrap(tenant, record)

    def _reason(self, tenant: Tenant, item: dict[str, Any]) -> str:
        return str(self._hold_key(tenant, item).cipher.decrypt_record(HOLD_RECORD, envelopes_of(item))["reason"])

    def _lift_reason(self, tenant: Tenant, item: dict[str, Any]) -> str | None:
        if "lift_fields" not in item:
            return None
        sealed = json.loads(item["lift_fields"]["S"])
        return str(self._hold_key(tenant, item).cipher.decrypt_record(HOLD_LIFT_RECORD, sealed)["reason"])
