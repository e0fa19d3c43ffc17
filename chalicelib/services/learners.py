"""Learner records: enrol, read, look up by e-mail, rectify, erase (crypto-shredding), results.

Every operation resolves the tenant through ``AccessControl`` (404/403/421 first), encrypts or
decrypts with the learner's key, and commits its audit event in the same DynamoDB transaction as
its change (reads: the answer is returned only once the event is stored).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NoReturn

from chalicelib.adapters.audit_store import AuditStore, ChangeRejected
from chalicelib.adapters.data_store import DataStore, envelopes_of, live_profile, result_sk, wrapped_learner_key
from chalicelib.domain.audit import format_at
from chalicelib.domain.crypto import LearnerKey, PlainFields, TtlCache, WrappedLearnerKey
from chalicelib.domain.errors import (
    Conflict,
    Gone,
    IntegrityError,
    LegalHoldActive,
    NotFound,
    ProcessingRestricted,
    Withdrawn,
)
from chalicelib.domain.ids import new_id, require_id
from chalicelib.domain.learners import (
    PERSONAL_FIELDS,
    SEARCH_ROUTE,
    LearnerCreate,
    LearnerPatch,
    LearnerSearch,
    ResultCreate,
    result_view,
)
from chalicelib.domain.paging import PageRequest, page
from chalicelib.domain.tenants import Tenant
from chalicelib.services.access import AccessControl
from chalicelib.services.context import Caller
from chalicelib.services.idempotency import Idempotency
from chalicelib.services.keys import TenantKeyService

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

DEFAULT_RECOVERY_WINDOW = timedelta(days=35)
PROFILE = "learner"
RESULT_FIELDS = ("assessment", "score", "max_score", "taken_on")  # all personal: compared decrypted on a retry


def learner_resource(tenant_id: str, learner_id: str) -> str:
    return f"tenants/{tenant_id}/learners/{learner_id}"


class LearnerService:
    def __init__(self, access: AccessControl, store: DataStore, keys: TenantKeyService, audit: AuditStore,
                 idempotency: Idempotency, clock: Callable[[], datetime],
                 holds: Callable[[Tenant, str], bool] | None = None,
                 hold_guards: Callable[[Tenant, str], list[TransactWriteItemTypeDef]] | None = None,
                 recovery_window: timedelta = DEFAULT_RECOVERY_WINDOW, wrapped_key_entries: int = 20_000,
                 profile_entries: int = 5_000) -> None:
        self._recovery_window = recovery_window
        # WRAPPED learner keys only (no secret), briefly: a write that needs the key skips its read and
        # conditions the transaction on the key item instead (see ``add_result``)
        self._wrapped: TtlCache[tuple[str, str], WrappedLearnerKey] = TtlCache(wrapped_key_entries, 60.0)
        # profile ITEMS as read (envelopes and version only, no plaintext), as briefly: a rectification after
        # a read writes in one round trip, conditioned on that version (see ``update``)
        self._profiles: TtlCache[tuple[str, str], dict[str, Any]] = TtlCache(profile_entries, 60.0)
        # when a restriction seen here was placed (not personal): lifting it then needs no read
        self._restricted: TtlCache[tuple[str, str], str] = TtlCache(profile_entries, 60.0)
        self._access = access
        self._store = store
        self._keys = keys
        self._audit = audit
        self._idempotency = idempotency
        self._clock = clock
        self._holds = holds or (lambda tenant, learner_id: False)
        self._hold_guards = hold_guards or (lambda tenant, learner_id: [])

    # -- enrol ---------------------------------------------------------------------------------

    def create(self, caller: Caller, tenant_id: str, body: LearnerCreate,
               idempotency_key: str | None = None) -> dict[str, Any]:
        tenant = self._access.tenant(caller.principal, tenant_id, "learner.create")
        keys = self._keys.keys_for(tenant)
        # No read before the write: the claim rides in the transaction, and a retry finds out on cancel.
        scope = self._idempotency.scope(caller, tenant, "learners", body, idempotency_key, PERSONAL_FIELDS)
        learner_id = new_id("lrn")
        learner_key, wrapped = keys.new_learner_key(learner_id)
        now = format_at(self._clock())
        fields = body.personal_fields()
        meta = {"version": 1, "created_at": now, "updated_at": now}
        envelopes = learner_key.cipher.encrypt_record(PROFILE, fields)
        changes = [
            self._store.learner_key_put(tenant.jurisdiction, wrapped),
            self._store.profile_put(tenant.jurisdiction, tenant.tenant_id, learner_id, envelopes,
                                    keys.blind_index("email", body.email), meta,
                                    tag=learner_key.record_tag(PROFILE, 1, envelopes)),
            *self._idempotency.claims(scope, learner_id),
        ]
        draft = caller.draft("learner.create", learner_resource(tenant.tenant_id, learner_id),
                             learner_id=learner_id, fields=sorted(fields))
        try:
            self._audit.commit(tenant.tenant_id, tenant.jurisdiction, draft, changes)
        except ChangeRejected:
            earlier = self._idempotency.earlier(scope)  # a retry: an earlier request holds the claim
            if earlier is None:
                raise Conflict("the learner could not be created; retry") from None
            self._idempotency.same_personal(self._plain(caller, tenant, earlier), fields)
            return self.read(caller, tenant.tenant_id, earlier)
        return learner_view(learner_id, fields, meta)

    # -- read ----------------------------------------------------------------------------------

    def read(self, caller: Caller, tenant_id: str, learner_id: str) -> dict[str, Any]:
        tenant = self._access.tenant(caller.principal, tenant_id, "learner.read")
        require_id(learner_id, "lrn", "learner")
        profile, plain = self._opened(caller, tenant, learner_id)
        self._audit.commit(tenant.tenant_id, tenant.jurisdiction,
                           caller.draft("learner.read", learner_resource(tenant.tenant_id, learner_id),
                                        learner_id=learner_id))
        self._profiles.put((tenant.tenant_id, learner_id), profile)  # ciphertext: a rectification may follow
        return learner_view(learner_id, plain, _meta(profile))

    def withdrawn_email_lookup(self, caller: Caller, tenant_id: str) -> NoReturn:
        """``GET .../learners?email=``: authorized and sent to the home region like the search, then 410
        naming the search route; nothing is looked up."""
        self._access.tenant(caller.principal, tenant_id, "learner.search")
        raise Withdrawn(f"the e-mail look-up moved into a body: {SEARCH_ROUTE}", replacement=SEARCH_ROUTE)

    def search(self, caller: Caller, tenant_id: str, body: LearnerSearch) -> dict[str, Any]:
        """Learners whose e-mail is ``body.email`` (already normalised): the blind index proposes, the
        decrypted address decides (after a rectification the index can lag behind the profile)."""
        tenant = self._access.tenant(caller.principal, tenant_id, "learner.search")
        keys = self._keys.keys_for(tenant)
        ids = self._store.find_by_lookup(tenant.jurisdiction, tenant.tenant_id, "email",
                                         keys.blind_index_all("email", body.email))
        items = []
        for learner_id in ids:
            try:
                view = self._decrypted(caller, tenant, learner_id)
            except (NotFound, Gone, ProcessingRestricted):
                continue
            if str(view.get("email", "")).lower() == body.email:
                items.append(view)
        self._audit.commit(tenant.tenant_id, tenant.jurisdiction,
                           caller.draft("learner.search", f"tenants/{tenant.tenant_id}/learners",
                                        matches=len(items), learner_ids=[i["learner_id"] for i in items]))
        return {"items": items}

    def list_page(self, caller: Caller, tenant_id: str, request: PageRequest) -> dict[str, object]:
        """One page of the tenant's learners, in id order: ids, status and dates, no personal value."""
        tenant = self._access.tenant(caller.principal, tenant_id, "learner.list")
        items, last = self._store.profile_page(tenant.jurisdiction, tenant.tenant_id, request.after, request.limit)
        listed = [listed_learner(item) for item in items]
        self._audit.commit(tenant.tenant_id, tenant.jurisdiction,
                           caller.draft("learner.list", f"tenants/{tenant.tenant_id}/learners", count=len(listed)))
        return page(listed, last)

    def _load(self, tenant: Tenant, learner_id: str) -> tuple[dict[str, Any], LearnerKey | None]:
        return self._checked(tenant, learner_id, self._store.learner_items(tenant.jurisdiction, tenant.tenant_id,
                                                                           learner_id))

    def _checked(self, tenant: Tenant, learner_id: str,
                 items: dict[str, dict[str, Any]]) -> tuple[dict[str, Any], LearnerKey | None]:
        """The live profile and the unwrapped key of the learner's ``K``/``P`` items (else 404/410/409)."""
        profile = live_profile(items.get("P"))
        if "restricted_at" in profile:  # a restriction request: storage only (access and erasure bypass _load)
            self._restricted.put((tenant.tenant_id, learner_id), profile["restricted_at"]["S"])  # a lift may follow
            raise ProcessingRestricted("processing of this learner is restricted",
                                       restricted_at=profile["restricted_at"]["S"])
        return profile, self._unwrapped(tenant, learner_id, items)

    def _unwrapped(self, tenant: Tenant, learner_id: str, items: dict[str, dict[str, Any]]) -> LearnerKey:
        key_item = items.get("K")
        if key_item is None:
            raise IntegrityError("the learner's key is missing")
        record = wrapped_learner_key(tenant.tenant_id, learner_id, key_item)
        key = self._keys.unwrap(tenant, record)
        self._wrapped.put((tenant.tenant_id, learner_id), record)
        return key

    def _decrypted(self, caller: Caller, tenant: Tenant, learner_id: str) -> dict[str, Any]:
        profile, plain = self._opened(caller, tenant, learner_id)
        return learner_view(learner_id, plain, _meta(profile))

    def _plain(self, caller: Caller, tenant: Tenant, learner_id: str) -> PlainFields:
        return self._opened(caller, tenant, learner_id)[1]

    def _opened(self, caller: Caller, tenant: Tenant, learner_id: str) -> tuple[dict[str, Any], PlainFields]:
        profile, key = self._load(tenant, learner_id)
        assert key is not None
        try:
            return profile, open_profile(key, profile)
        except IntegrityError:
            self._alert(caller, tenant, learner_id)
            raise

    def _alert(self, caller: Caller, tenant: Tenant, learner_id: str) -> None:
        self._keys.alarm(tenant, "integrity_error", {"learner_id": learner_id},
                         actor=(caller.principal.sub, caller.principal.role.value), action="learner.read",
                         resource=learner_resource(tenant.tenant_id, learner_id))

    # -- rectify -------------------------------------------------------------------------------

    def update(self, caller: Caller, tenant_id: str, learner_id: str, patch: LearnerPatch) -> dict[str, Any]:
        """Rectify: every field is re-encrypted with the profile's new version (its tag binds them all), so
        the stored profile is merged with the patch. One round trip when this container read the learner
        within the minute: its profile item (ciphertext) and wrapped key come from the short caches and the
        put is conditioned on that version (live, not restricted); a stale copy falls back to a read."""
        tenant = self._access.tenant(caller.principal, tenant_id, "learner.update")
        require_id(learner_id, "lrn", "learner")
        cached, record = self._profiles.get((tenant.tenant_id, learner_id)), self._usable_wrapped(tenant, learner_id)
        if cached is not None and record is not None and patch.expected_version in (None, _meta(cached)["version"]):
            view = self._rectify(caller, tenant, learner_id, patch, cached, self._keys.unwrap(tenant, record))
            if view is not None:
                return view
        self._forget(tenant.tenant_id, learner_id)
        profile, key = self._load(tenant, learner_id)
        assert key is not None
        version = _meta(profile)["version"]
        if patch.expected_version is not None and patch.expected_version != version:
            raise Conflict("the learner changed since you read it", current_version=version)
        view = self._rectify(caller, tenant, learner_id, patch, profile, key)
        if view is None:
            self._forget(tenant.tenant_id, learner_id)
            self._load(tenant, learner_id)  # erased (410) or restricted (409) since the read: say so
            raise Conflict("the learner changed since you read it; read it again and retry")
        return view

    def _rectify(self, caller: Caller, tenant: Tenant, learner_id: str, patch: LearnerPatch,
                 profile: dict[str, Any], key: LearnerKey) -> dict[str, Any] | None:
        """The patched profile written in place of ``profile`` (its version, live, not restricted) with its
        audit event; None when the stored profile is no longer that one."""
        meta = _meta(profile)
        plain: dict[str, Any] = dict(open_profile(key, profile))
        changes = patch.changes()
        plain.update(changes)
        new_meta = {**meta, "version": meta["version"] + 1, "updated_at": format_at(self._clock())}
        keys = self._keys.keys_for(tenant)
        envelopes = key.cipher.encrypt_record(PROFILE, plain)
        put = self._store.profile_put(tenant.jurisdiction, tenant.tenant_id, learner_id, envelopes,
                                      keys.blind_index("email", str(plain["email"])), new_meta,
                                      expected_version=meta["version"],
                                      tag=key.record_tag(PROFILE, new_meta["version"], envelopes))
        draft = caller.draft("learner.update", learner_resource(tenant.tenant_id, learner_id),
                             learner_id=learner_id, fields=sorted(changes), version=new_meta["version"])
        try:
            self._audit.commit(tenant.tenant_id, tenant.jurisdiction, draft, [put])
        except ChangeRejected:
            return None
        self._profiles.put((tenant.tenant_id, learner_id), dict(put["Put"]["Item"]))
        return learner_view(learner_id, plain, new_meta)

    # -- erase ---------------------------------------------------------------------------------

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
        cached = None if held else self._wrapped.get((tenant.tenant_id, learner_id))
        self._forget(tenant.tenant_id, learner_id)
        if cached is not None:
            receipt = self._commit_shred(caller, tenant, learner_id, action, cached.fingerprint, has_key=True)
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
                      has_key: bool) -> dict[str, Any] | None:
        """The erasure's transaction: its receipt, or None when the learner's items were not as expected
        (erased or changed meanwhile: the caller reads them); 409 ``legal_hold_active`` under a hold."""
        erased = self._clock()
        j, tid = tenant.jurisdiction, tenant.tenant_id
        changes = [self._store.tombstone_put(j, tid, learner_id, format_at(erased), fingerprint)]
        if has_key:
            changes.append(self._store.learner_key_delete(j, tid, learner_id, fingerprint))
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
        seen = self._restricted.get((tenant.tenant_id, learner_id))
        if seen is not None:
            lifted = self._commit_lift(caller, tenant, learner_id, seen)
            if lifted is not None:
                return lifted
        self._forget(tenant.tenant_id, learner_id)
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
        self._forget(tenant.tenant_id, learner_id)
        lifted_at = format_at(self._clock())
        draft = caller.draft("learner.unrestrict", learner_resource(tenant.tenant_id, learner_id),
                             learner_id=learner_id, restricted_at=restricted_at)
        lift = self._store.unrestrict_update(tenant.jurisdiction, tenant.tenant_id, learner_id, restricted_at)
        try:
            self._audit.commit(tenant.tenant_id, tenant.jurisdiction, draft, [lift])
        except ChangeRejected:
            return None
        return {"learner_id": learner_id, "restricted_at": restricted_at, "lifted_at": lifted_at}

    # -- results -------------------------------------------------------------------------------

    def add_result(self, caller: Caller, tenant_id: str, learner_id: str, body: ResultCreate,
                   idempotency_key: str | None = None) -> dict[str, Any]:
        """One round trip when warm: the wrapped key comes from the short-lived cache, and the transaction
        checks that key item and the profile, so an erasure or restriction in between still wins.
        A retry with the same ``Idempotency-Key`` answers the first result (its fields compared decrypted)."""
        tenant = self._access.tenant(caller.principal, tenant_id, "result.create")
        require_id(learner_id, "lrn", "learner")
        scope = self._idempotency.scope(caller, tenant, f"results/{learner_id}", body, idempotency_key,
                                        RESULT_FIELDS)
        record = self._wrapped.get((tenant.tenant_id, learner_id))
        if record is None:
            _, key = self._load(tenant, learner_id)
            assert key is not None
        else:
            key = self._keys.unwrap(tenant, record)
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
                return self._earlier_result(tenant, learner_id, earlier, result_view(result_id, fields, now))
            self._forget(tenant.tenant_id, learner_id)
            self._load(tenant, learner_id)  # 404 / 410 / 409 restricted: say why the write was refused
            raise Conflict("the learner changed meanwhile; retry") from None
        return result_view(result_id, fields, now)

    def _earlier_result(self, tenant: Tenant, learner_id: str, result_id: str,
                        sent: dict[str, Any]) -> dict[str, Any]:
        stored = next((r for r in self.result_list(tenant, learner_id) if r["result_id"] == result_id), None)
        if stored is None:
            raise Conflict("this Idempotency-Key was used with a different request", reason="idempotency_key_reused")
        self._idempotency.same_personal({f: stored[f] for f in RESULT_FIELDS}, {f: sent[f] for f in RESULT_FIELDS})
        return stored

    def _usable_wrapped(self, tenant: Tenant, learner_id: str) -> WrappedLearnerKey | None:
        """The learner's wrapped key from the short cache, if a current tenant key version still opens it
        (a read then needs no key item: the data query's profile decides 404/410/409)."""
        record = self._wrapped.get((tenant.tenant_id, learner_id))
        if record is None or record.tenant_key_version not in self._keys.keys_for(tenant).versions:
            return None
        return record

    def forget(self) -> None:
        """Drop every cached wrapped key and profile item (a SnapStart snapshot holds no learner's data)."""
        self._wrapped.clear()
        self._profiles.clear()
        self._restricted.clear()

    def _forget(self, tenant_id: str, learner_id: str) -> None:
        self._wrapped.discard_if(lambda key: key == (tenant_id, learner_id))
        self._profiles.discard_if(lambda key: key == (tenant_id, learner_id))
        self._restricted.discard_if(lambda key: key == (tenant_id, learner_id))

    def results(self, caller: Caller, tenant_id: str, learner_id: str) -> dict[str, Any]:
        tenant = self._access.tenant(caller.principal, tenant_id, "result.read")
        require_id(learner_id, "lrn", "learner")
        _, key, records = self._with_records(tenant, learner_id, "R")
        items = [self._result(key, item) for item in records]
        self._audit.commit(tenant.tenant_id, tenant.jurisdiction,
                           caller.draft("result.read", f"{learner_resource(tenant.tenant_id, learner_id)}/results",
                                        learner_id=learner_id, count=len(items)))
        return {"items": sorted(items, key=lambda r: (r["taken_on"], r["recorded_at"]))}

    def _with_records(self, tenant: Tenant, learner_id: str,
                      kind: str) -> tuple[dict[str, Any], LearnerKey, list[dict[str, Any]]]:
        """The live profile, the learner's key and every ``kind`` record item: one query when this container
        holds the wrapped key (the query's profile still says whether the learner is live: 404/410/409),
        else a key read too."""
        cached = self._usable_wrapped(tenant, learner_id)
        own, records = self._store.learner_items_with(tenant.jurisdiction, tenant.tenant_id, learner_id, kind,
                                                      with_key=cached is None)
        if cached is None:
            profile, key = self._checked(tenant, learner_id, own)
            assert key is not None
            return profile, key, records
        profile = live_profile(own.get("P"))
        if "restricted_at" in profile:
            raise ProcessingRestricted("processing of this learner is restricted",
                                       restricted_at=profile["restricted_at"]["S"])
        return profile, self._keys.unwrap(tenant, cached), records

    # -- for other services: decrypted, with no audit event of their own (the caller audits the use) --

    def profile_with_records(self, tenant: Tenant, learner_id: str,
                             kind: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The learner's decrypted personal fields and every ``kind`` record item (one query when the
        learner's wrapped key is cached here); 404 unknown, 410 erased, 409 restricted."""
        profile, key, records = self._with_records(tenant, learner_id, kind)
        return dict(open_profile(key, profile)), records

    def learner_ids(self, tenant: Tenant) -> list[str]:
        """Every learner of the tenant whose key still exists (not erased), page by page."""
        return [item["sk"]["S"].split("#")[1]
                for item in self._store.learner_key_items(tenant.jurisdiction, tenant.tenant_id)]

    def profile(self, tenant: Tenant, learner_id: str) -> dict[str, Any]:
        """The learner's decrypted personal fields; 404 unknown, 410 erased."""
        profile, key = self._load(tenant, learner_id)
        assert key is not None
        return dict(open_profile(key, profile))

    def handover(self, tenant: Tenant, learner_id: str) -> dict[str, Any]:
        """Everything held on the learner for the tenant's final package (offboarding); 404/410 as usual.

        A restricted learner is included, marked ``restricted_at``: restriction limits processing to
        storage, and handing the stored data back to its controller as the platform stops storing it is
        the end of that storage, not new processing (the tenant must keep honouring the restriction)."""
        own, records = self._store.learner_items_with(tenant.jurisdiction, tenant.tenant_id, learner_id, "R")
        profile = live_profile(own.get("P"))
        key = self._unwrapped(tenant, learner_id, own)
        results = sorted((self._result(key, item) for item in records), key=lambda r: (r["taken_on"], r["recorded_at"]))
        entry: dict[str, Any] = {"learner_id": learner_id, "profile": dict(open_profile(key, profile)),
                                 "results": results}
        if "restricted_at" in profile:
            entry["restricted_at"] = profile["restricted_at"]["S"]
        return entry

    def result_list(self, tenant: Tenant, learner_id: str) -> list[dict[str, Any]]:
        """The learner's decrypted results, oldest first; 404 unknown, 410 erased."""
        _, key = self._load(tenant, learner_id)
        assert key is not None
        items = [self._result(key, item)
                 for item in self._store.records(tenant.jurisdiction, tenant.tenant_id, learner_id, "R")]
        return sorted(items, key=lambda r: (r["taken_on"], r["recorded_at"]))

    def pseudonymous_results(self, tenant: Tenant, learner_id: str, purpose: str) -> tuple[str, list[dict[str, Any]]]:
        """The learner's pseudonym for ``purpose`` (from the learner key) and decrypted results, oldest first."""
        _, key = self._load(tenant, learner_id)
        assert key is not None
        items = [self._result(key, item)
                 for item in self._store.records(tenant.jurisdiction, tenant.tenant_id, learner_id, "R")]
        return key.pseudonym(purpose), sorted(items, key=lambda r: (r["taken_on"], r["recorded_at"]))

    @staticmethod
    def _result(key: LearnerKey, item: dict[str, Any]) -> dict[str, Any]:
        result_id = item["sk"]["S"].rsplit("#", 1)[-1]  # the record type comes from the key, never an attribute
        plain = key.cipher.decrypt_record(f"result:{result_id}", envelopes_of(item))
        return result_view(result_id, dict(plain), item["recorded_at"]["S"])


def open_profile(key: LearnerKey, profile: dict[str, Any]) -> PlainFields:
    """The decrypted profile, after checking its tag binds these fields to its version.

    Profiles written before the tag existed have none: they still open (their v1 field envelopes are
    unchanged) and get a tag on their next write."""
    envelopes = envelopes_of(profile)
    if "tag" in profile:
        key.check_record_tag(PROFILE, int(profile["version"]["N"]), envelopes, profile["tag"]["S"])
    return key.cipher.decrypt_record(PROFILE, envelopes)


def listed_learner(item: dict[str, Any]) -> dict[str, Any]:
    """A profile item as the paged list shows it: ``status`` is active, restricted or erased."""
    learner_id = item["sk"]["S"].split("#")[1]
    if "erased_at" in item:
        return {"learner_id": learner_id, "status": "erased", "erased_at": item["erased_at"]["S"]}
    view = {"learner_id": learner_id, "status": "restricted" if "restricted_at" in item else "active",
            "created_at": item["created_at"]["S"], "updated_at": item["updated_at"]["S"]}
    return view


def _meta(profile: dict[str, Any]) -> dict[str, Any]:
    return {"version": int(profile["version"]["N"]), "created_at": profile["created_at"]["S"],
            "updated_at": profile["updated_at"]["S"]}


def learner_view(learner_id: str, plain: PlainFields | dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    return {"learner_id": learner_id, **plain, **meta}
