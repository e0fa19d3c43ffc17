"""The consent ledger: record a decision, read the history and current state, gate processing on it.

Each decision is one item ``L#<learner_id>#C#<at>#<consent_id>`` of the jurisdiction's data table,
written with a conditional put (never overwritten; there is no update or delete path) in the same
transaction as its audit event and a ConditionCheck that the learner exists, is not erased and its
processing is not restricted (so a restriction or erasure after the read still refuses the write).
The rules (lawful basis, consent age, guardian verification, latest-wins) are in
``chalicelib.domain.consents`` and come from the law packs.

Why a consent record is stored without field encryption, unlike profiles and results:

* It holds **no free text and nothing that identifies anyone**: purpose, decision, ``given_by``,
  ``verification``, lawful basis and policy version are all enumerations checked against the law
  pack, and ``at`` is a timestamp. The guardian's identity is never taken here (it is in the
  encrypted profile); how they were verified is a method name, not the evidence itself.
* It is still personal data in law (a decision about a person), but **pseudonymous**: the only link
  to the person is the random learner id, exactly as in the audit trail. The key that turns that id
  into a person, the profile, is encrypted with the learner's key.
* It is the controller's **evidence** that processing was lawful (UK GDPR Art. 7(1); 34 CFR 99.30;
  NPC Circular 2023-04: consent "evidenced and recorded"), which the law packs' ``retention.consents``
  rule keeps at least as long as the data it covers. Encrypting it with the learner key would destroy
  that evidence at erasure; after crypto-shredding nothing maps the learner id to a person, so what
  remains is an anonymous record of which decision existed when — until the retention sweep removes it.

Ordering: ``at`` is made strictly later than the learner's previous decision (by a microsecond when
the clock has not moved on), so "latest" is well defined even with a coarse or fixed clock.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from chalicelib.adapters import consent_counts
from chalicelib.adapters.audit_store import AuditStore, ChangeRejected
from chalicelib.adapters.data_store import DataStore, live_profile
from chalicelib.domain.audit import format_at
from chalicelib.domain.catalog import JurisdictionCatalog
from chalicelib.domain.consents import (
    ConsentCreate,
    ConsentRecord,
    check_decision,
    current_state,
    in_order,
    is_permitted,
)
from chalicelib.domain.errors import Conflict, ConsentRequired, ValidationFailed
from chalicelib.domain.ids import new_id, require_id
from chalicelib.domain.tenants import Tenant
from chalicelib.services.access import AccessControl
from chalicelib.services.context import Caller
from chalicelib.services.idempotency import Idempotency, IdempotencyScope
from chalicelib.services.learners.service import LearnerService, learner_resource

ATTEMPTS = 3


class _Raced(Exception):
    """Another decision on the learner was written between this one's read and its write."""


AT_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
TICK = timedelta(microseconds=1)


def consent_sk(learner_id: str, at: str, consent_id: str) -> str:
    return f"L#{learner_id}#C#{at}#{consent_id}"


def consents_resource(tenant_id: str, learner_id: str) -> str:
    return f"{learner_resource(tenant_id, learner_id)}/consents"


class ConsentService:
    def __init__(self, access: AccessControl, store: DataStore, learners: LearnerService, audit: AuditStore,
                 jurisdictions: JurisdictionCatalog, clock: Callable[[], datetime],
                 idempotency: Idempotency | None = None) -> None:
        self._idempotency = idempotency
        self._access = access
        self._store = store
        self._learners = learners
        self._audit = audit
        self._jurisdictions = jurisdictions
        self._clock = clock

    # -- record --------------------------------------------------------------------------------

    def record(self, caller: Caller, tenant_id: str, learner_id: str, body: ConsentCreate,
               idempotency_key: str | None = None) -> dict[str, Any]:
        """Append a decision; a retry with the same ``Idempotency-Key`` answers the first record."""
        tenant = self._access.tenant(caller.principal, tenant_id, "consent.create")
        require_id(learner_id, "lrn", "learner")
        scope = (self._idempotency.scope(caller, tenant, f"consents/{learner_id}", body, idempotency_key)
                 if self._idempotency else None)
        for _ in range(ATTEMPTS - 1):  # another decision on this learner landed between the read and the write
            try:
                return self._record_once(caller, tenant, learner_id, body, scope)
            except _Raced:
                continue
        try:
            return self._record_once(caller, tenant, learner_id, body, scope)
        except _Raced:
            raise Conflict("the learner changed meanwhile; retry") from None

    def _record_once(self, caller: Caller, tenant: Tenant, learner_id: str, body: ConsentCreate,
                     scope: IdempotencyScope | None) -> dict[str, Any]:
        policy = self._jurisdictions.get(tenant.jurisdiction)
        # The consent age needs the decrypted date of birth and the order the previous decision: both come
        # from one query of the learner's items (and the key from the short cache when warm)
        plain, items = self._learners.profile_with_records(tenant, learner_id, "C")
        date_of_birth = date.fromisoformat(str(plain["date_of_birth"]))
        history = in_order([_record(item) for item in items])
        moment = self._next_moment(history)
        resource = consents_resource(tenant.tenant_id, learner_id)
        try:
            accepted = check_decision(policy, body, date_of_birth, moment.date())
        except ValidationFailed as exc:  # a refusal after reading the profile: audited, fields named only
            self._audit.commit(tenant.tenant_id, tenant.jurisdiction, caller.draft(
                "consent.create", resource, outcome="rejected", learner_id=learner_id, purpose=body.purpose,
                decision=body.decision, given_by=body.given_by,
                invalid_fields=sorted({f["field"] for f in exc.details["fields"]})))
            raise
        record = ConsentRecord(
            consent_id=new_id("cns"), purpose=body.purpose, decision=body.decision, given_by=body.given_by,
            verification=body.verification, lawful_basis=accepted.lawful_basis,
            policy_version=accepted.policy_version, at=format_at(moment))
        attributes = {name: value for name, value in record.view().items() if value is not None}
        attributes["record_id"] = attributes.pop("consent_id")
        put = self._store.record_put(tenant.jurisdiction, tenant.tenant_id,
                                     consent_sk(learner_id, record.at, record.consent_id), {}, attributes)
        check = self._store.learner_processable_check(tenant.jurisdiction, tenant.tenant_id, learner_id)
        before = current_state(history).get(body.purpose)
        counted = consent_counts.decided(self._store.table(tenant.jurisdiction), tenant.tenant_id, learner_id,
                                         body.purpose, None if before is None else before.granted,
                                         record.granted, len(history))
        details = {k: v for k, v in record.view().items() if k != "at" and v is not None}
        draft = caller.draft("consent.create", f"{resource}/{record.consent_id}", learner_id=learner_id, **details)
        claims = self._idempotency.claims(scope, record.consent_id) if self._idempotency else []
        try:
            self._audit.commit(tenant.tenant_id, tenant.jurisdiction, draft, [put, check, *counted, *claims])
        except ChangeRejected as exc:
            earlier = self._idempotency.earlier(scope) if self._idempotency else None
            if earlier is not None:
                return self._earlier(tenant, learner_id, earlier)
            if exc.index == 2:  # the counted decisions moved on: another decision landed since the read
                raise _Raced from None
            # erased or restricted since the read: 410 / 409 processing_restricted
            self._learners.profile_with_records(tenant, learner_id, "C")
            raise Conflict("the learner changed meanwhile; retry") from None
        return record.view()

    def _earlier(self, tenant: Tenant, learner_id: str, consent_id: str) -> dict[str, Any]:
        for earlier in self.ledger(tenant, learner_id):
            if earlier.consent_id == consent_id:
                return earlier.view()
        raise Conflict("the consent of this Idempotency-Key is not recorded; retry with a new key")

    def _next_moment(self, history: list[ConsentRecord]) -> datetime:
        now = self._clock().astimezone(UTC)
        if history:
            last = max(datetime.strptime(r.at, AT_FORMAT).replace(tzinfo=UTC) for r in history)
            if now <= last:
                return last + TICK
        return now

    # -- read ----------------------------------------------------------------------------------

    def history(self, caller: Caller, tenant_id: str, learner_id: str) -> dict[str, Any]:
        tenant = self._access.tenant(caller.principal, tenant_id, "consent.read")
        require_id(learner_id, "lrn", "learner")
        own, items = self._store.learner_items_with(tenant.jurisdiction, tenant.tenant_id, learner_id, "C",
                                                    with_key=False)  # decisions are not encrypted
        live_profile(own.get("P"))
        records = in_order([_record(item) for item in items])
        self._audit.commit(tenant.tenant_id, tenant.jurisdiction,
                           caller.draft("consent.read", consents_resource(tenant.tenant_id, learner_id),
                                        learner_id=learner_id, count=len(records)))
        return {"current": {purpose: record.view() for purpose, record in current_state(records).items()},
                "history": [record.view() for record in records]}

    # -- for other services (no audit event of their own: the caller audits) ------------------

    def ledger(self, tenant: Tenant, learner_id: str) -> list[ConsentRecord]:
        """Every decision held on the learner, oldest first (also for access packages)."""
        items = self._store.records(tenant.jurisdiction, tenant.tenant_id, learner_id, "C")
        return in_order([_record(item) for item in items])

    def require_live(self, tenant: Tenant, learner_id: str) -> None:
        """NotFound for an unknown learner, Gone for an erased one; reads no personal field."""
        live_profile(self._store.learner_items(tenant.jurisdiction, tenant.tenant_id, learner_id).get("P"))

    def require_in(self, tenant: Tenant, items: list[dict[str, Any]], purpose: str) -> None:
        """``require`` on the learner's consent items as already read (``L#<id>#C#…``)."""
        policy = self._jurisdictions.get(tenant.jurisdiction)
        if not is_permitted(policy, in_order([_record(item) for item in items]), purpose):
            raise ConsentRequired(f"the learner's consent for {purpose} is not currently granted",
                                  purpose=purpose)

    def require(self, tenant: Tenant, learner_id: str, purpose: str) -> None:
        """ConsentRequired (403) unless processing for ``purpose`` is permitted now: a purpose resting on
        consent needs a current grant; any other lawful basis in the law pack needs none."""
        policy = self._jurisdictions.get(tenant.jurisdiction)
        if not is_permitted(policy, self.ledger(tenant, learner_id), purpose):
            raise ConsentRequired(f"the learner's consent for {purpose} is not currently granted",
                                  purpose=purpose)


def _record(item: dict[str, Any]) -> ConsentRecord:
    def text(name: str) -> str:
        return str(item[name]["S"])

    verification = item.get("verification")
    return ConsentRecord(consent_id=text("record_id"), purpose=text("purpose"), decision=text("decision"),
                         given_by=text("given_by"), verification=None if verification is None else verification["S"],
                         lawful_basis=text("lawful_basis"), policy_version=text("policy_version"), at=text("at"))

