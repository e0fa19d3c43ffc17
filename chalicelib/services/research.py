"""Sharing a learner's results for research: an operation gated by the consent ledger.

The extract is de-identified: no name, e-mail, birth date, guardian or programme, and no learner id.
The subject is a keyed pseudonym derived from the learner's own key (``LearnerKey.pseudonym`` with the
purpose ``research_subject``): stable for one learner (tenant key rotations do not change it), not
computable by the recipient, and only the tenant can link it back while the learner exists. Erasure
shreds the learner key, so afterwards nobody can recompute it from the learner id: the extracts are
unlinked. The pseudonym is never written to the audit trail, so audit readers cannot link extracts to
learners either.

Whether the purpose needs consent is the law pack's call (``research`` rests on consent in every
jurisdiction today). The decision is evaluated when the request arrives; a withdrawal committed
later applies from the next request. Refusals are audited with outcome ``denied``.
"""

from __future__ import annotations

from typing import Any

from chalicelib.adapters.audit_store import AuditStore, ChangeRejected
from chalicelib.adapters.data_store import DataStore
from chalicelib.domain.errors import ConsentRequired, Gone, ProcessingRestricted
from chalicelib.domain.ids import require_id
from chalicelib.services.access import AccessControl
from chalicelib.services.consents import ConsentService
from chalicelib.services.context import Caller
from chalicelib.services.keys.tenant_keys import TenantKeyService
from chalicelib.services.learners.service import LearnerService, decrypted_result, learner_resource, oldest_first

ACTION = "result.share_research"
PURPOSE = "research"
PSEUDONYM_LABEL = "research_subject"
SHARED_FIELDS = ("assessment", "score", "max_score", "taken_on")


class ResearchShareService:
    def __init__(self, access: AccessControl, consents: ConsentService, learners: LearnerService,
                 keys: TenantKeyService, store: DataStore, audit: AuditStore) -> None:
        self._access = access
        self._consents = consents
        self._learners = learners
        self._keys = keys
        self._store = store
        self._audit = audit

    def share(self, caller: Caller, tenant_id: str, learner_id: str) -> dict[str, Any]:
        """One query reads the consents, the profile and the results (``C``, ``P``, ``R`` are neighbours; the
        key from the short cache when this container read the learner within the minute), then one
        transaction stores the audit event on the condition that the learner still exists."""
        tenant = self._access.tenant(caller.principal, tenant_id, ACTION)
        require_id(learner_id, "lrn", "learner")
        profile, records, key_of = self._learners.span(tenant, learner_id, "C", "R")   # 404 / 410
        resource = f"{learner_resource(tenant.tenant_id, learner_id)}/results/research-share"
        try:
            self._consents.require_in(tenant, records.get("C", []), PURPOSE)
        except ConsentRequired:
            self._audit.commit(tenant.tenant_id, tenant.jurisdiction,
                               caller.draft(ACTION, resource, outcome="denied", learner_id=learner_id,
                                            purpose=PURPOSE, reason="consent_required"))
            raise
        if "restricted_at" in profile:
            raise ProcessingRestricted("processing of this learner is restricted",
                                       restricted_at=profile["restricted_at"]["S"])
        key = key_of()
        subject = key.pseudonym(PSEUDONYM_LABEL)
        results = [{name: result[name] for name in SHARED_FIELDS}
                   for result in oldest_first([decrypted_result(key, item) for item in records.get("R", [])])]
        check = self._store.learner_exists_check(tenant.jurisdiction, tenant.tenant_id, learner_id)
        try:
            self._audit.commit(tenant.tenant_id, tenant.jurisdiction,
                               caller.draft(ACTION, resource, learner_id=learner_id, purpose=PURPOSE,
                                            count=len(results)), [check])
        except ChangeRejected:
            raise Gone("this learner was erased") from None
        return {"subject": subject, "purpose": PURPOSE, "results": results}
