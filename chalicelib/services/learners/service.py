"""Learner records: enrol, read, look up by e-mail, rectify, erase (crypto-shredding), lift a restriction.

Every operation resolves the tenant through ``AccessControl`` (404/403/421 first), encrypts or
decrypts with the learner's key, and commits its audit event in the same DynamoDB transaction as
its change (reads: the answer is returned only once the event is stored).

What a read finds is kept for a minute, never in plaintext: the learner's wrapped key, the profile
item as stored, and when a restriction that refused the read was placed. The writes that use them
(a rectification here; results, erasure and lifting a restriction in their services) condition their
one transaction on exactly what they used, so a change made elsewhere meanwhile still wins.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, NoReturn

from chalicelib.adapters import consent_counts
from chalicelib.adapters.audit_store import AuditStore, ChangeRejected
from chalicelib.adapters.data_store import DataStore, live_profile, wrapped_learner_key
from chalicelib.domain.audit import format_at
from chalicelib.domain.crypto import LearnerKey, PlainFields, TtlCache, WrappedLearnerKey
from chalicelib.domain.errors import (
    Conflict,
    Gone,
    IntegrityError,
    NotFound,
    ProcessingRestricted,
    TenantOffboarding,
    Withdrawn,
)
from chalicelib.domain.ids import new_id, require_id
from chalicelib.domain.learners import (
    PERSONAL_FIELDS,
    SEARCH_ROUTE,
    LearnerCreate,
    LearnerPatch,
    LearnerSearch,
    name_key,
)
from chalicelib.domain.paging import PageRequest, page
from chalicelib.domain.tenants import Tenant
from chalicelib.services.access import AccessControl
from chalicelib.services.context import Caller
from chalicelib.services.idempotency import Idempotency
from chalicelib.services.keys.tenant_keys import TenantKeyService
from chalicelib.services.learners.lists import list_options, sorted_page, with_names
from chalicelib.services.learners.records import (
    PROFILE,
    RECTIFICATIONS_KEPT,
    decrypted_result,
    learner_view,
    listed_learner,
    meta_of,
    oldest_first,
    open_profile,
    rectifications_of,
    rectified,
)

__all__ = ["RECTIFICATIONS_KEPT", "LearnerService", "decrypted_result", "learner_resource", "learner_view",
           "oldest_first", "open_profile", "rectifications_of"]

def learner_resource(tenant_id: str, learner_id: str) -> str:
    return f"tenants/{tenant_id}/learners/{learner_id}"


class LearnerService:
    def __init__(self, access: AccessControl, store: DataStore, keys: TenantKeyService, audit: AuditStore,
                 idempotency: Idempotency, clock: Callable[[], datetime], *, wrapped_key_entries: int = 20_000,
                 profile_entries: int = 5_000) -> None:
        # WRAPPED learner keys only (no secret), briefly: a write that needs the key skips its read and
        # conditions the transaction on the key item instead (``ResultService.add``)
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
                                    tag=learner_key.record_tag(PROFILE, 1, envelopes),
                                    name_token=keys.blind_index("family_name", name_key(body.family_name)),
                                    rectifications=[]),
            self._store.not_offboarded_check(tenant.jurisdiction, tenant.tenant_id),
            consent_counts.enrolled(self._store.table(tenant.jurisdiction), tenant.tenant_id, learner_id),
            *self._idempotency.claims(scope, learner_id),
        ]
        draft = caller.draft("learner.create", learner_resource(tenant.tenant_id, learner_id),
                             learner_id=learner_id, fields=sorted(fields))
        try:
            self._audit.commit(tenant.tenant_id, tenant.jurisdiction, draft, changes)
        except ChangeRejected as exc:
            if exc.index == 2:  # the tenant's offboarding was confirmed (maybe by another container)
                raise TenantOffboarding("this tenant is being offboarded: no learner can be enrolled") from None
            earlier = self._idempotency.earlier(scope)  # a retry: an earlier request holds the claim
            if earlier is None:
                raise Conflict("the learner could not be created; retry") from None
            self._idempotency.same_personal(self._plain(caller, tenant, earlier), fields)
            return self.read(caller, tenant.tenant_id, earlier)
        # the wrapped key just stored (no secret): a result recorded next is one round trip, as after a read
        self._wrapped.put((tenant.tenant_id, learner_id), wrapped)
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
        return learner_view(learner_id, plain, meta_of(profile))

    def withdrawn_email_lookup(self, caller: Caller, tenant_id: str) -> NoReturn:
        """``GET .../learners?email=``: authorized and sent to the home region like the search, then 410
        naming the search route; nothing is looked up."""
        self._access.tenant(caller.principal, tenant_id, "learner.search")
        raise Withdrawn(f"the e-mail look-up moved into a body: {SEARCH_ROUTE}", replacement=SEARCH_ROUTE)

    def search(self, caller: Caller, tenant_id: str, body: LearnerSearch) -> dict[str, Any]:
        """Learners whose e-mail is ``body.email`` (already normalised), or whose family name (and given
        name, if asked) is the one given, compared normalised (``name_key``): the blind index proposes,
        the decrypted value decides (after a rectification the index can lag behind the profile; a
        learner enrolled before the family-name index existed is found by name once next written)."""
        tenant = self._access.tenant(caller.principal, tenant_id, "learner.search")
        keys = self._keys.keys_for(tenant)
        if body.email is not None:
            email = body.email
            ids = self._store.find_by_lookup(tenant.jurisdiction, tenant.tenant_id, "email",
                                             keys.blind_index_all("email", email))

            def matches(view: dict[str, Any]) -> bool:
                return str(view.get("email", "")).lower() == email
        else:
            assert body.family_name is not None
            family, given = name_key(body.family_name), body.given_name and name_key(body.given_name)
            ids = self._store.find_by_name(tenant.jurisdiction, tenant.tenant_id,
                                           keys.blind_index_all("family_name", family))

            def matches(view: dict[str, Any]) -> bool:
                return name_key(str(view.get("family_name", ""))) == family and (
                    not given or name_key(str(view.get("given_name", ""))) == given)
        items = []
        for learner_id in ids:
            try:
                view = self._decrypted(caller, tenant, learner_id)
            except (NotFound, Gone, ProcessingRestricted):
                continue
            if matches(view):
                items.append(view)
        items.sort(key=lambda v: (name_key(str(v["family_name"])), name_key(str(v["given_name"])), v["learner_id"]))
        self._audit.commit(tenant.tenant_id, tenant.jurisdiction,
                           caller.draft("learner.search", f"tenants/{tenant.tenant_id}/learners",
                                        by="email" if body.email is not None else "family_name",
                                        matches=len(items), learner_ids=[i["learner_id"] for i in items]))
        return {"items": items}

    def list_page(self, caller: Caller, tenant_id: str, request: PageRequest,
                  query: Mapping[str, str] | None = None) -> dict[str, object]:
        """One page of the tenant's learners in id order (``status`` filters): ids, status, dates and, for
        the tenant's own users, each active learner's names, sorted within the page (``sort``). One audit
        event names the learners shown."""
        status, sort = list_options(query or {})
        tenant = self._access.tenant(caller.principal, tenant_id, "learner.list")
        named = self._access.permits(caller.principal, "learner.read", tenant)
        items, last = self._store.profile_page(tenant.jurisdiction, tenant.tenant_id, request.after, request.limit,
                                               with_fields=named, status=status)
        listed = [listed_learner(item) for item in items]
        if named:
            live = [view["learner_id"] for view in listed if view["status"] == "active"]
            key_items = self._store.learner_keys(tenant.jurisdiction, tenant.tenant_id, live)
            listed = sorted_page(with_names(tenant.tenant_id, listed, items, key_items,
                                            lambda record: self._keys.unwrap(tenant, record), open_profile), sort)
        self._audit.commit(tenant.tenant_id, tenant.jurisdiction,
                           caller.draft("learner.list", f"tenants/{tenant.tenant_id}/learners", count=len(listed),
                                        learner_ids=[view["learner_id"] for view in listed], names=named,
                                        **({"status": status} if status else {})))
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
        return learner_view(learner_id, plain, meta_of(profile))

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
        if cached is not None and record is not None and patch.expected_version in (None, meta_of(cached)["version"]):
            view = self._rectify(caller, tenant, learner_id, patch, cached, self._keys.unwrap(tenant, record))
            if view is not None:
                return view
        self._forget(tenant.tenant_id, learner_id)
        profile, key = self._load(tenant, learner_id)
        assert key is not None
        version = meta_of(profile)["version"]
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
        meta = meta_of(profile)
        plain: dict[str, Any] = dict(open_profile(key, profile))
        changes = patch.changes()
        plain.update(changes)
        new_meta = {**meta, "version": meta["version"] + 1, "updated_at": format_at(self._clock())}
        keys = self._keys.keys_for(tenant)
        envelopes = key.cipher.encrypt_record(PROFILE, plain)
        put = self._store.profile_put(tenant.jurisdiction, tenant.tenant_id, learner_id, envelopes,
                                      keys.blind_index("email", str(plain["email"])), new_meta,
                                      expected_version=meta["version"],
                                      tag=key.record_tag(PROFILE, new_meta["version"], envelopes),
                                      name_token=keys.blind_index("family_name", name_key(str(plain["family_name"]))),
                                      consent_at=profile["consent_at"]["S"] if "consent_at" in profile else None,
                                      consents=profile,
                                      rectifications=rectified(profile, new_meta["version"], new_meta["updated_at"]))
        draft = caller.draft("learner.update", learner_resource(tenant.tenant_id, learner_id),
                             learner_id=learner_id, fields=sorted(changes), version=new_meta["version"])
        try:
            self._audit.commit(tenant.tenant_id, tenant.jurisdiction, draft, [put])
        except ChangeRejected:
            return None
        self._profiles.put((tenant.tenant_id, learner_id), dict(put["Put"]["Item"]))
        return learner_view(learner_id, plain, new_meta)

    # -- for the result and erasure services: what this container holds on a learner --------------

    def cached_key_record(self, tenant: Tenant, learner_id: str) -> WrappedLearnerKey | None:
        """The learner's wrapped key if this container read it within the minute (no read)."""
        return self._wrapped.get((tenant.tenant_id, learner_id))

    def seen_restriction(self, tenant: Tenant, learner_id: str) -> str | None:
        """When the restriction a read here was refused for (409) within the minute was placed (no read)."""
        return self._restricted.get((tenant.tenant_id, learner_id))

    def forget_learner(self, tenant_id: str, learner_id: str) -> None:
        """Drop what this container holds on the learner (it was erased, or a condition found it stale)."""
        self._forget(tenant_id, learner_id)

    def key_for_write(self, tenant: Tenant, learner_id: str) -> LearnerKey:
        """The learner's key: from the short cache of wrapped keys (no read; the write must then condition
        its transaction on the key item, ``DataStore.learner_key_check``), else read (404/410/409)."""
        record = self._wrapped.get((tenant.tenant_id, learner_id))
        if record is not None:
            return self._keys.unwrap(tenant, record)
        _, key = self._load(tenant, learner_id)
        assert key is not None
        return key

    def key_of(self, tenant: Tenant, learner_id: str) -> LearnerKey:
        """The learner's key, read now (404 unknown, 410 erased, 409 restricted)."""
        _, key = self._load(tenant, learner_id)
        assert key is not None
        return key

    def refusal(self, tenant: Tenant, learner_id: str) -> None:
        """After a refused write: drop what this container cached and read why (404/410/409 restricted)."""
        self._forget(tenant.tenant_id, learner_id)
        self._load(tenant, learner_id)

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
        self._wrapped.discard((tenant_id, learner_id))
        self._profiles.discard((tenant_id, learner_id))
        self._restricted.discard((tenant_id, learner_id))

    def with_records(self, tenant: Tenant, learner_id: str,
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

    def span(self, tenant: Tenant, learner_id: str, first: str,
             last: str) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]], Callable[[], LearnerKey]]:
        """The live profile item (404 unknown, 410 erased; a restriction is the caller's to judge), the
        learner's records of kinds ``first`` to ``last`` and how to get the key: one query when this
        container holds the learner's wrapped key (the query's profile says whether the learner is live),
        else a key read too."""
        cached = self._usable_wrapped(tenant, learner_id)
        own, records = self._store.learner_span(tenant.jurisdiction, tenant.tenant_id, learner_id, first, last,
                                                with_key=cached is None)
        profile = live_profile(own.get("P"))
        if cached is not None:
            return profile, records, lambda: self._keys.unwrap(tenant, cached)
        return profile, records, lambda: self._unwrapped(tenant, learner_id, own)

    def profile_for_write(self, tenant: Tenant, learner_id: str, *,
                          cached: bool = True) -> tuple[dict[str, Any], PlainFields]:
        """The learner's profile item and its decrypted fields, for a write that needs a personal value
        first (the consent age needs the date of birth). ``cached``: from the short caches when this
        container read the learner within the minute (no read: the write must condition its transaction
        on the item's version), else read now (404 unknown, 410 erased, 409 restricted)."""
        if cached:
            item, record = self._profiles.get((tenant.tenant_id, learner_id)), self._usable_wrapped(tenant, learner_id)
            if item is not None and record is not None:
                return item, open_profile(self._keys.unwrap(tenant, record), item)
        self._forget(tenant.tenant_id, learner_id)
        profile, key = self._load(tenant, learner_id)
        assert key is not None
        self._profiles.put((tenant.tenant_id, learner_id), profile)  # ciphertext: the next write may follow
        return profile, open_profile(key, profile)

    def cached_profile(self, tenant: Tenant, learner_id: str) -> dict[str, Any] | None:
        """The learner's profile item (ciphertext) as this container last read or wrote it within the
        minute (no read); a write relying on it must condition on its version."""
        return self._profiles.get((tenant.tenant_id, learner_id))

    def note_profile(self, tenant: Tenant, learner_id: str, item: dict[str, Any]) -> None:
        """The profile item as a write here just left it (ciphertext): the next write needs no read."""
        self._profiles.put((tenant.tenant_id, learner_id), item)

    def profile_with_records(self, tenant: Tenant, learner_id: str,
                             kind: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The learner's decrypted personal fields and every ``kind`` record item (one query when the
        learner's wrapped key is cached here); 404 unknown, 410 erased, 409 restricted."""
        profile, key, records = self.with_records(tenant, learner_id, kind)
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
        results = oldest_first([decrypted_result(key, item) for item in records])
        entry: dict[str, Any] = {"learner_id": learner_id, "profile": dict(open_profile(key, profile)),
                                 "results": results}
        if "restricted_at" in profile:
            entry["restricted_at"] = profile["restricted_at"]["S"]
        return entry
