"""Assessment results: record one, read a learner's, and hand them (decrypted) to other services.

A result is one item ``L#<learner_id>#R#<result_id>`` encrypted with the learner's key, written with
its audit event in one transaction that also checks the profile (live, not restricted) and the key
item (the very key that encrypted it). The key comes through ``LearnerService`` (its short cache of
wrapped keys when warm), so recording a result on a learner read here within the minute is one round
trip and an erasure or restriction in between still wins.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from chalicelib.adapters.audit_store import AuditStore, ChangeRejected
from chalicelib.adapters.data_store import DataStore, result_sk
from chalicelib.domain.audit import format_at
from chalicelib.domain.errors import Conflict
from chalicelib.domain.ids import new_id, require_id
from chalicelib.domain.learners import ResultCreate, result_view
from chalicelib.domain.tenants import Tenant
from chalicelib.services.access import AccessControl
from chalicelib.services.context import Caller
from chalicelib.services.idempotency import Idempotency
from chalicelib.services.learners.service import LearnerService, decrypted_result, learner_resource, oldest_first

RESULT_FIELDS = ("assessment", "score", "max_score", "taken_on")  # all personal: compared decrypted on a retry


class ResultService:
    def __init__(self, access: AccessControl, store: DataStore, learners: LearnerService, audit: AuditStore,
                 idempotency: Idempotency, clock: Callable[[], datetime]) -> None:
        self._access = access
        self._store = store
        self._learners = learners
        self._audit = audit
        self._idempotency = idempotency
        self._clock = clock

    def add(self, caller: Caller, tenant_id: str, learner_id: str, body: ResultCreate,
            idempotency_key: str | None = None) -> dict[str, Any]:
        """One round trip when warm: the wrapped key comes from the short-lived cache, and the transaction
        checks that key item and the profile, so an erasure or restriction in between still wins.
        A retry with the same ``Idempotency-Key`` answers the first result (its fields compared decrypted)."""
        tenant = self._access.tenant(caller.principal, tenant_id, "result.create")
        require_id(learner_id, "lrn", "learner")
        scope = self._idempotency.scope(caller, tenant, f"results/{learner_id}", body, idempotency_key,
                                        RESULT_FIELDS)
        key = self._learners.key_for_write(tenant, learner_id)
        result_id = new_id("res")
        fields = body.personal_fields()
        now = format_at(self._clock())
        put = self._store.record_put(tenant.jurisdiction, tenant.tenant_id, result_sk(learner_id, result_id),
                                     key.cipher.encrypt_record(f"result:{result_id}", fields),
                                     {"recorded_at": now, "record_id": result_id})
        checks = [self._store.learner_processable_check(tenant.jurisdiction, tenant.tenant_id, learner_id),
                  self._store.learner_key_check(tenant.jurisdiction, tenant.tenant_id, learner_id, key.fingerprint)]
        draft = caller.draft("result.create", f"{learner_resource(tenant.tenant_id, learner_id)}/results/{result_id}",
                             learner_id=learner_id, result_id=result_id)
        try:
            self._audit.commit(tenant.tenant_id, tenant.jurisdiction, draft,
                               [put, *checks, *self._idempotency.claims(scope, result_id)])
        except ChangeRejected:
            earlier = self._idempotency.earlier(scope)
            if earlier is not None:
                return self._earlier(tenant, learner_id, earlier, result_view(result_id, fields, now))
            self._learners.refusal(tenant, learner_id)  # 404 / 410 / 409 restricted: say why the write was refused
            raise Conflict("the learner changed meanwhile; retry") from None
        return result_view(result_id, fields, now)

    def _earlier(self, tenant: Tenant, learner_id: str, result_id: str, sent: dict[str, Any]) -> dict[str, Any]:
        stored = next((r for r in self.result_list(tenant, learner_id) if r["result_id"] == result_id), None)
        if stored is None:
            raise Conflict("this Idempotency-Key was used with a different request", reason="idempotency_key_reused")
        self._idempotency.same_personal({f: stored[f] for f in RESULT_FIELDS}, {f: sent[f] for f in RESULT_FIELDS})
        return stored

    def read(self, caller: Caller, tenant_id: str, learner_id: str) -> dict[str, Any]:
        """The learner's results, oldest first: one query (and the key from the short cache when warm)."""
        tenant = self._access.tenant(caller.principal, tenant_id, "result.read")
        require_id(learner_id, "lrn", "learner")
        _, key, records = self._learners.with_records(tenant, learner_id, "R")
        items = [decrypted_result(key, item) for item in records]
        self._audit.commit(tenant.tenant_id, tenant.jurisdiction,
                           caller.draft("result.read", f"{learner_resource(tenant.tenant_id, learner_id)}/results",
                                        learner_id=learner_id, count=len(items)))
        return {"items": oldest_first(items)}

    # -- for other services: decrypted, with no audit event of their own (the caller audits the use) --

    def result_list(self, tenant: Tenant, learner_id: str) -> list[dict[str, Any]]:
        """The learner's decrypted results, oldest first; 404 unknown, 410 erased."""
        key = self._learners.key_of(tenant, learner_id)
        return oldest_first([decrypted_result(key, item) for item in
                              self._store.records(tenant.jurisdiction, tenant.tenant_id, learner_id, "R")])

    def pseudonymous_results(self, tenant: Tenant, learner_id: str, purpose: str) -> tuple[str, list[dict[str, Any]]]:
        """The learner's pseudonym for ``purpose`` (from the learner key) and decrypted results, oldest first."""
        key = self._learners.key_of(tenant, learner_id)
        items = [decrypted_result(key, item)
                 for item in self._store.records(tenant.jurisdiction, tenant.tenant_id, learner_id, "R")]
        return key.pseudonym(purpose), oldest_first(items)
