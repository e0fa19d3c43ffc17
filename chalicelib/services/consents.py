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
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from chalicelib.adapters import consent_counts
from chalicelib.adapters.audit_store import AuditStore, ChangeRejected
from chalicelib.adapters.data_store import DataStore, consent_summary, consents_of, live_profile
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
from chalicelib.services.learners.records import open_profile
from chalicelib.services.learners.service import LearnerService, learner_resource

ATTEMPTS = 3


MARK = 1  # the index of the profile's update among a decision's changes; the per-learner count follows it


class _Raced(Exception):
    """Another decision on the learner (or a rectification) was written between this one's read and its write."""


@dataclass(frozen=True)
class _Known:
    """What a decision needs of the learner before it is written."""

    item: dict[str, Any]  # the profile item (ciphertext), whose version the decision is conditioned on
    plain: dict[str, Any]  # its decrypted fields (the date of birth)
    seen: int  # decisions counted so far
    state: dict[str, bool]  # purpose -> granted, the decision in force
    last_at: str | None  # the latest decision's time


def _time_of(item: dict[str, Any]) -> str | None:
    return str(item["consent_at"]["S"]) if "consent_at" in item else None


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
        """Append a decision; a retry with the same ``Idempotency-Key`` answers the first record.

        The first attempt trusts the profile this container read or wrote within the minute (the date of
        birth, and the decisions' summary the previous decision left on it): one round trip. Its
        transaction is conditional on what it trusted, so when another decision or a rectification landed
        meanwhile it is refused, and the next attempt reads the learner's ledger."""
        tenant = self._access.tenant(caller.principal, tenant_id, "consent.create")
        require_id(learner_id, "lrn", "learner")
        scope = (self._idempotency.scope(caller, tenant, f"consents/{learner_id}", body, idempotency_key)
                 if self._idempotency else None)
        for attempt in range(ATTEMPTS):
            try:
                return self._record_once(caller, tenant, learner_id, body, scope, warm=attempt == 0)
            except _Raced:
                continue
        raise Conflict("the learner changed meanwhile; retry")

    def _known(self, tenant: Tenant, learner_id: str, warm: bool) -> _Known:
        """The profile item, its decrypted fields and the decisions' summary. ``warm``: the profile from this
        container's short caches (no read) or one read of profile and key, its summary trusted (the
        transaction checks it); otherwise, or for a profile written before it carried a summary, one query
        of the learner's profile and consent items (the ledger itself)."""
        if warm:
            item, plain = self._learners.profile_for_write(tenant, learner_id)  # cached, or one read
            summary = consents_of(item)
            if summary is not None:
                seen, state = summary
                return _Known(item, dict(plain), seen, state, _time_of(item))
        item, key, items = self._learners.with_records(tenant, learner_id, "C")
        history = in_order([_record(record) for record in items])
        state = {purpose: record.granted for purpose, record in current_state(history).items()}
        last = max((record.at for record in history), default=None)
        return _Known(item, dict(open_profile(key, item)), len(history), state, last)

    def _record_once(self, caller: Caller, tenant: Tenant, learner_id: str, body: ConsentCreate,
                     scope: IdempotencyScope | None, warm: bool) -> dict[str, Any]:
        policy = self._jurisdictions.get(tenant.jurisdiction)
        known = self._known(tenant, learner_id, warm)
        date_of_birth = date.fromisoformat(str(known.plain["date_of_birth"]))
        moment = self._next_moment(known.last_at)
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
        state = {**known.state, body.purpose: record.granted}
        version = int(known.item["version"]["N"])
        mark = self._store.consent_mark(tenant.jurisdiction, tenant.tenant_id, learner_id, record.at, version,
                                        known.seen, state)
        counted = consent_counts.decided(self._store.table(tenant.jurisdiction), tenant.tenant_id, learner_id,
                                         body.purpose, known.state.get(body.purpose), record.granted, known.seen)
        details = {k: v for k, v in record.view().items() if k != "at" and v is not None}
        draft = caller.draft("consent.create", f"{resource}/{record.consent_id}", learner_id=learner_id, **details)
        claims = self._idempotency.claims(scope, record.consent_id) if self._idempotency else []
        try:
            self._audit.commit(tenant.tenant_id, tenant.jurisdiction, draft, [put, mark, *counted, *claims])
        except ChangeRejected as exc:
            earlier = self._idempotency.earlier(scope) if self._idempotency else None
            if earlier is not None:
                return self._earlier(tenant, learner_id, earlier)
            self._learners.forget_learner(tenant.tenant_id, learner_id)
            if exc.index == MARK + 1:  # another decision counted since: the next attempt reads the ledger
                raise _Raced from None
            # erased or restricted since the read: 410 / 409 processing_restricted; else (rectified) the next
            # attempt reads the ledger
            self._learners.profile_with_records(tenant, learner_id, "C")
            if exc.index == MARK:
                raise _Raced from None
            raise Conflict("the learner changed meanwhile; retry") from None
        self._learners.note_profile(tenant, learner_id, {**known.item, "consent_at": {"S": record.at},
                                                         **consent_summary(known.seen + 1, state)})
        return record.view()

    def _earlier(self, tenant: Tenant, learner_id: str, consent_id: str) -> dict[str, Any]:
        for earlier in self.ledger(tenant, learner_id):
            if earlier.consent_id == consent_id:
                return earlier.view()
        raise Conflict("the consent of this Idempotency-Key is not recorded; retry with a new key")

    def _next_moment(self, last_at: str | None) -> datetime:
        """Now, or a microsecond after the learner's latest decision when the clock has not passed it."""
        now = self._clock().astimezone(UTC)
        if last_at is not None:
            last = datetime.strptime(last_at, AT_FORMAT).replace(tzinfo=UTC)
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

