"""Writes one chunk of an import's rows as the API writes them, many rows per transaction.

Each learner is written exactly as ``POST .../learners`` writes it (a new learner key, every personal
field encrypted, the e-mail and family-name blind indexes, the tag) and each result as ``POST
.../results`` does (encrypted with the learner's key, conditioned on the learner being live and its key
unchanged); a consent on a learner row as ``POST .../consents`` records it. Every learner, result and
consent lands with its own audit event, in the same TransactWriteItems as the change (``AuditStore.
commit_batch``: up to 100 items, so about 24 learners or 30 results a transaction).

A row is written once: its claim ``IMPROW#`` (a blind index of the e-mail, or of learner, assessment
and day) joins its transaction; rows claimed earlier are skipped (a re-upload, a redelivered chunk).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from chalicelib.adapters.audit_store import AuditStore, ChangeRejected
from chalicelib.adapters.data_store import DataStore, live_profile, result_sk, wrapped_learner_key
from chalicelib.adapters.import_store import ImportStore
from chalicelib.domain.audit import AuditEventDraft, format_at
from chalicelib.domain.catalog import JurisdictionCatalog
from chalicelib.domain.consents import ConsentCreate
from chalicelib.domain.errors import EnclaveError, TenantOffboarding
from chalicelib.domain.ids import new_id
from chalicelib.domain.imports import LEARNER_UNAVAILABLE, UNKNOWN_LEARNER, Problem, result_identity
from chalicelib.domain.keys import LearnerKey, TenantKeys
from chalicelib.domain.learners import LearnerCreate, ResultCreate, name_key
from chalicelib.domain.tenants import Tenant
from chalicelib.services.consents import consent_sk, consents_resource
from chalicelib.services.keys.tenant_keys import TenantKeyService
from chalicelib.services.learners.records import PROFILE
from chalicelib.services.learners.service import learner_resource

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

MAX_ITEMS = 100


@dataclass(frozen=True)
class Actor:
    """Who started the import: the events of its rows are theirs (request id: the import's id)."""

    sub: str
    role: str
    import_id: str

    def draft(self, action: str, resource: str, **details: Any) -> AuditEventDraft:
        return AuditEventDraft(actor_sub=self.sub, actor_role=self.role, action=action, resource=resource,
                               outcome="success", request_id=self.import_id,
                               details={**details, "import_id": self.import_id})


@dataclass
class Outcome:
    created: int = 0
    skipped: int = 0
    problems: list[Problem] = field(default_factory=list)


@dataclass
class _Entry:
    row: int
    token: str
    drafts: list[tuple[AuditEventDraft, list[TransactWriteItemTypeDef]]]
    learner_id: str = ""

    @property
    def size(self) -> int:
        return sum(1 + len(changes) for _, changes in self.drafts)


class ImportWriter:
    def __init__(self, store: DataStore, imports: ImportStore, keys: TenantKeyService, audit: AuditStore,
                 jurisdictions: JurisdictionCatalog, clock: Callable[[], datetime]) -> None:
        self._store = store
        self._imports = imports
        self._keys = keys
        self._audit = audit
        self._jurisdictions = jurisdictions
        self._clock = clock

    # -- learners ------------------------------------------------------------------------------

    def learners(self, tenant: Tenant, actor: Actor,
                 rows: Sequence[tuple[int, LearnerCreate, ConsentCreate | None]]) -> Outcome:
        keys = self._keys.keys_for(tenant)
        outcome = Outcome()
        tokens = {row: keys.blind_index_all("import_learner", body.email) for row, body, _ in rows}
        done = self._imports.claimed(tenant.jurisdiction, tenant.tenant_id, "L",
                                     [t for all_versions in tokens.values() for t in all_versions])
        entries = []
        for row, body, consent in rows:
            if done.intersection(tokens[row]):
                outcome.skipped += 1
                continue
            entries.append(self._learner_entry(tenant, keys, actor, row, tokens[row][0], body, consent))
        shared = [self._store.not_offboarded_check(tenant.jurisdiction, tenant.tenant_id)]
        self._write(tenant, entries, lambda batch: shared, outcome)
        return outcome

    def _learner_entry(self, tenant: Tenant, keys: TenantKeys, actor: Actor, row: int, token: str,
                       body: LearnerCreate, consent: ConsentCreate | None) -> _Entry:
        learner_id = new_id("lrn")
        learner_key, wrapped = keys.new_learner_key(learner_id)
        now = format_at(self._clock())
        fields = body.personal_fields()
        envelopes = learner_key.cipher.encrypt_record(PROFILE, fields)
        changes: list[TransactWriteItemTypeDef] = [
            self._store.learner_key_put(tenant.jurisdiction, wrapped),
            self._store.profile_put(tenant.jurisdiction, tenant.tenant_id, learner_id, envelopes,
                                    keys.blind_index("email", body.email),
                                    {"version": 1, "created_at": now, "updated_at": now},
                                    tag=learner_key.record_tag(PROFILE, 1, envelopes),
                                    name_token=keys.blind_index("family_name", name_key(body.family_name))),
            self._imports.row_claim(tenant.jurisdiction, tenant.tenant_id, "L", token, actor.import_id),
        ]
        drafts = [(actor.draft("learner.create", learner_resource(tenant.tenant_id, learner_id),
                               learner_id=learner_id, fields=sorted(fields)), changes)]
        if consent is not None:
            drafts.append(self._consent(tenant, actor, learner_id, consent, now))
        return _Entry(row, token, drafts, learner_id)

    def _consent(self, tenant: Tenant, actor: Actor, learner_id: str, body: ConsentCreate,
                 now: str) -> tuple[AuditEventDraft, list[TransactWriteItemTypeDef]]:
        """The row's decision as ``ConsentService.record`` stores it (checked by the domain beforehand)."""
        policy = self._jurisdictions.get(tenant.jurisdiction)
        consent_id = new_id("cns")
        record = {"purpose": body.purpose, "decision": body.decision, "given_by": body.given_by,
                  "verification": body.verification, "lawful_basis": "consent",
                  "policy_version": body.policy_version or policy.policy_version}
        attributes = {k: v for k, v in record.items() if v is not None}
        put = self._store.record_put(tenant.jurisdiction, tenant.tenant_id, consent_sk(learner_id, now, consent_id),
                                     {}, {**attributes, "at": now, "record_id": consent_id})
        draft = actor.draft("consent.create", f"{consents_resource(tenant.tenant_id, learner_id)}/{consent_id}",
                            learner_id=learner_id, consent_id=consent_id, **attributes)
        return draft, [put]

    # -- results -------------------------------------------------------------------------------

    def results(self, tenant: Tenant, actor: Actor, rows: Sequence[tuple[int, str, ResultCreate]]) -> Outcome:
        """``rows``: (row, learner id, body); the learner must be live, not restricted, its key present."""
        outcome = Outcome()
        learner_ids = sorted({learner_id for _, learner_id, _ in rows})
        usable = self._learner_keys(tenant, learner_ids)
        keys = self._keys.keys_for(tenant)
        tokens = {row: keys.blind_index_all("import_result", result_identity(learner_id, body))
                  for row, learner_id, body in rows}
        done = self._imports.claimed(tenant.jurisdiction, tenant.tenant_id, "R",
                                     [t for all_versions in tokens.values() for t in all_versions])
        entries = []
        for row, learner_id, body in rows:
            found = usable[learner_id]
            if isinstance(found, str):
                outcome.problems.append(Problem(row, "learner_id", found))
            elif done.intersection(tokens[row]):
                outcome.skipped += 1
            else:
                entries.append(self._result_entry(tenant, actor, row, tokens[row][0], learner_id, found, body))

        def checks(batch: list[_Entry]) -> list[TransactWriteItemTypeDef]:
            out: list[TransactWriteItemTypeDef] = []
            for learner_id in dict.fromkeys(entry.learner_id for entry in batch):
                key = usable[learner_id]
                assert not isinstance(key, str)
                out += [self._store.learner_processable_check(tenant.jurisdiction, tenant.tenant_id, learner_id),
                        self._store.learner_key_check(tenant.jurisdiction, tenant.tenant_id, learner_id,
                                                      key.fingerprint)]
            return out

        self._write(tenant, entries, checks, outcome, per_learner=2)
        return outcome

    def _learner_keys(self, tenant: Tenant, learner_ids: list[str]) -> dict[str, LearnerKey | str]:
        """Each learner's key, or the problem code: unknown, or erased/restricted (unavailable)."""
        profiles = self._store.profiles_of(tenant.jurisdiction, tenant.tenant_id, learner_ids)
        key_items = self._store.learner_keys(tenant.jurisdiction, tenant.tenant_id, learner_ids)
        out: dict[str, LearnerKey | str] = {}
        for learner_id in learner_ids:
            try:
                profile = live_profile(profiles.get(learner_id))
            except EnclaveError as exc:
                out[learner_id] = UNKNOWN_LEARNER if exc.status == 404 else LEARNER_UNAVAILABLE
                continue
            if "restricted_at" in profile or learner_id not in key_items:
                out[learner_id] = LEARNER_UNAVAILABLE
                continue
            out[learner_id] = self._keys.unwrap(tenant, wrapped_learner_key(tenant.tenant_id, learner_id,
                                                                              key_items[learner_id]))
        return out

    def _result_entry(self, tenant: Tenant, actor: Actor, row: int, token: str, learner_id: str, key: LearnerKey,
                      body: ResultCreate) -> _Entry:
        result_id = new_id("res")
        put = self._store.record_put(tenant.jurisdiction, tenant.tenant_id, result_sk(learner_id, result_id),
                                     key.cipher.encrypt_record(f"result:{result_id}", body.personal_fields()),
                                     {"recorded_at": format_at(self._clock()), "record_id": result_id})
        draft = actor.draft("result.create", f"{learner_resource(tenant.tenant_id, learner_id)}/results/{result_id}",
                            learner_id=learner_id, result_id=result_id)
        claim = self._imports.row_claim(tenant.jurisdiction, tenant.tenant_id, "R", token, actor.import_id)
        return _Entry(row, token, [(draft, [put, claim])], learner_id)

    # -- transactions --------------------------------------------------------------------------

    def _write(self, tenant: Tenant, entries: list[_Entry],
               shared: Callable[[list[_Entry]], list[TransactWriteItemTypeDef]], outcome: Outcome,
               per_learner: int = 0) -> None:
        """Write ``entries`` in transactions of at most 100 items; a row whose claim or learner check fails
        is taken out (skipped, or reported) and the rest of its transaction written again."""
        for planned in _batches(entries, per_learner):
            batch = planned
            while batch:
                checks = shared(batch)
                flat = [draft for entry in batch for draft in entry.drafts]
                try:
                    self._audit.commit_batch(tenant.tenant_id, tenant.jurisdiction, flat, checks)
                except ChangeRejected as exc:
                    batch = self._without(batch, exc.index, checks, outcome, per_learner)
                    continue
                outcome.created += len(batch)
                break

    @staticmethod
    def _without(batch: list[_Entry], index: int, checks: list[Any], outcome: Outcome,
                 per_learner: int) -> list[_Entry]:
        if index < 0:  # a shared check: the tenant's offboarding, or one learner of a results batch
            if not per_learner:
                raise TenantOffboarding("this tenant is being offboarded: nothing can be imported")
            learner_id = checks[-index - 1]["ConditionCheck"]["Key"]["sk"]["S"].split("#")[1]
            gone = [entry for entry in batch if entry.learner_id == learner_id]
            outcome.problems += [Problem(entry.row, "learner_id", LEARNER_UNAVAILABLE) for entry in gone]
            return [entry for entry in batch if entry.learner_id != learner_id]
        owner, position = 0, 0
        for entry in batch:  # the refused draft belongs to this entry: its claim was taken meanwhile
            position += len(entry.drafts)
            if index < position:
                break
            owner += 1
        outcome.skipped += 1
        return batch[:owner] + batch[owner + 1:]


def _batches(entries: list[_Entry], per_learner: int) -> list[list[_Entry]]:
    batches: list[list[_Entry]] = []
    current: list[_Entry] = []
    size, learners = 1, set[str]()  # 1: the tenant's offboarding check (learners) or room for it
    for entry in entries:
        extra = per_learner if per_learner and entry.learner_id not in learners else 0
        if current and size + entry.size + extra > MAX_ITEMS:
            batches.append(current)
            current, size, learners = [], 1, set()
            extra = per_learner
        current.append(entry)
        size += entry.size + extra
        learners.add(entry.learner_id)
    if current:
        batches.append(current)
    return batches
