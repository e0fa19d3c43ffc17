"""Data-subject requests: record them with their statutory due date, fulfil them, list what is overdue.

Creation and fulfilment are two audited transactions: ``request.create`` stores the open request
(with its Idempotency-Key claim), then access, erasure and restriction are fulfilled at once and
``request.fulfil`` closes it. When fulfilment cannot happen now (a legal hold, the bucket
unavailable), the request stays open, the answer says why (``fulfilment_error``) and
``POST .../requests/{id}/fulfil`` retries; the overdue listing keeps it in sight meanwhile.

- **access**: a JSON package of everything held on the learner (the profile decrypted, results,
  consents, any other record under the learner, the requests about them and every audit event that
  names them, with other learners' ids blanked) is sealed with the learner's own key
  (``encrypt_field("access_package:<request_id>", "package", ...)``: AES-GCM bound to tenant,
  learner, request and field) and that envelope alone is written to the regional export bucket
  (SSE-KMS on top), so no personal value is ever stored there in plaintext. ``GET .../requests/{id}``
  gives roles with ``request.download`` a ``download_url`` on this deployment's API,
  ``GET .../requests/{id}/package``, which checks the caller, reads the object, unwraps the learner's
  key, decrypts, audits ``request.download`` and answers the package, while the bucket keeps the
  object (``PACKAGE_LIFETIME``). Consequence: erasing the learner destroys the only key that opens
  the package, so every copy of it (the object, replicas, backups, anything downloaded raw from the
  bucket) is crypto-shredded with them; the route then answers 410.
- **erasure**: ``ErasureService.shred`` (crypto-shredding, legal holds honoured); its receipt is kept.
- **restriction**: the profile gets ``restricted_at``; ``LearnerService`` then refuses reads, updates,
  results and consent-gated work with 409 ``processing_restricted``, while storage, access and erasure
  requests go on.
- **rectification**: stays open; the tenant corrects the learner with ``PATCH .../learners/{id}`` and
  closes the request with ``POST .../fulfil``, which records the versions written since receipt as
  evidence (409 when there are none: reject it instead, e.g. ``no_change_needed``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from chalicelib.adapters.audit_store import AuditStore, ChangeRejected
from chalicelib.adapters.data_store import DataStore, live_profile
from chalicelib.adapters.export_bucket import ExportBucket
from chalicelib.adapters.request_store import RequestStore
from chalicelib.domain.applicable import TenantScope
from chalicelib.domain.audit import format_at
from chalicelib.domain.catalog import JurisdictionCatalog
from chalicelib.domain.crypto import TtlCache
from chalicelib.domain.errors import (
    Conflict,
    EnclaveError,
    Gone,
    NotFound,
)
from chalicelib.domain.ids import new_id, require_id
from chalicelib.domain.paging import PageRequest, encode_cursor
from chalicelib.domain.requests import (
    AUTO_FULFILLED,
    DUE_SOON,
    PACKAGE_LIFETIME,
    DataSubjectRequest,
    RequestClose,
    RequestCreate,
    RequestPause,
    check_clock_stop,
    received_moment,
    tenant_list_query,
    urgency,
)
from chalicelib.domain.tenants import Tenant
from chalicelib.logs import logger
from chalicelib.services.access import AccessControl
from chalicelib.services.context import Caller
from chalicelib.services.idempotency import Idempotency
from chalicelib.services.keys.tenant_keys import TenantKeyService
from chalicelib.services.learners.lists import names_of
from chalicelib.services.learners.service import (
    RECTIFICATIONS_KEPT,
    LearnerService,
    open_profile,
    rectifications_of,
)
from chalicelib.services.requests.downloads import (
    PACKAGE_RECORD,
    PACKAGE_SUFFIX,
    PackageDownloads,
    requests_resource,
)
from chalicelib.services.requests.erasure import ErasureService
from chalicelib.services.requests.packages import AccessPackages


class RequestService:
    def __init__(self, access: AccessControl, store: DataStore, requests: RequestStore, keys: TenantKeyService,
                 audit: AuditStore, idempotency: Idempotency, bucket: ExportBucket, erasure: ErasureService,
                 jurisdictions: JurisdictionCatalog, region: str, clock: Callable[[], datetime],
                 package_url: Callable[[str, str], str], due_soon: timedelta = DUE_SOON,
                 learners: LearnerService | None = None) -> None:
        """``package_url(tenant_id, request_id)`` is the package route's absolute URL on this deployment;
        ``learners``: whose short cache of profile items lets closing a rectification skip its reads."""
        self._learners = learners
        self._access = access
        self._store = store
        self._requests = requests
        self._keys = keys
        self._audit = audit
        self._idempotency = idempotency
        self._bucket = bucket
        self._erasure = erasure
        self._jurisdictions = jurisdictions
        self._region = region
        self._clock = clock
        self._package_url = package_url
        self._due_soon = due_soon
        self._packages = AccessPackages(store, requests, keys, audit,
                                        learners.cached_key_record if learners is not None else None)
        self._downloads = PackageDownloads(store, keys, audit, bucket, clock)
        # open requests this container wrote within the minute, with the document as stored: closing one then
        # reads nothing, its put conditioned on that very document (a change elsewhere wins)
        self._written: TtlCache[tuple[str, str], tuple[DataSubjectRequest, str]] = TtlCache(2_000, 60.0)

    def forget(self) -> None:
        """Drop the cached requests and wrapped keys (a SnapStart snapshot holds no learner's data)."""
        self._downloads.forget()
        self._written.clear()

    def _wrote(self, tenant: Tenant, request: DataSubjectRequest, put: Any) -> None:
        if request.is_open:
            self._written.put((tenant.tenant_id, request.request_id), (request, put["Put"]["Item"]["doc"]["S"]))
        else:
            self._written.discard((tenant.tenant_id, request.request_id))

    # -- create --------------------------------------------------------------------------------

    def create(self, caller: Caller, tenant_id: str, body: RequestCreate,
               idempotency_key: str | None = None) -> dict[str, Any]:
        tenant = self._access.tenant(caller.principal, tenant_id, "request.create")
        now = self._clock()
        received = received_moment(body.received_at, now)
        if body.paused_for is not None:
            check_clock_stop(self._jurisdictions.get(tenant.jurisdiction), body.paused_for, now)
        scope = self._idempotency.scope(caller, tenant, "requests", body, idempotency_key)
        # No read before the write: the transaction checks the learner (exists, not erased) and the claim;
        # only a refusal reads, to replay a retry or say 404/410 (one round trip on the way that succeeds)
        request = DataSubjectRequest.new(new_id("req"), tenant.tenant_id, tenant.home_region, body.learner_id,
                                         body.type, received, now, self._jurisdictions, TenantScope.of(tenant))
        if body.paused_for is not None:
            request = request.paused(now, body.paused_for)
        changes = [self._requests.put(request, new=True),
                   self._store.learner_exists_check(tenant.jurisdiction, tenant.tenant_id, body.learner_id)]
        changes += self._idempotency.claims(scope, request.request_id)
        draft = caller.draft("request.create", requests_resource(tenant.tenant_id, request.request_id),
                             request_id=request.request_id, learner_id=request.learner_id, type=request.type,
                             received_at=format_at(request.received_at), due_at=format_at(request.due_at),
                             **({"paused_for": body.paused_for} if body.paused_for else {}))
        try:
            self._audit.commit(tenant.tenant_id, tenant.jurisdiction, draft, changes)
        except ChangeRejected:
            earlier = self._idempotency.earlier(scope)  # a retry: an earlier request holds the claim
            if earlier is not None:
                return self.get(caller, tenant.tenant_id, earlier)
            self._live_profile(tenant, body.learner_id)  # 404 unknown, 410 erased
            raise Conflict("the learner changed meanwhile; retry") from None
        self._wrote(tenant, request, changes[0])
        return self._fulfil_now(caller, tenant, request)

    def _fulfil_now(self, caller: Caller, tenant: Tenant, request: DataSubjectRequest) -> dict[str, Any]:
        """Fulfil an auto-fulfilled type; a failure leaves the request open and is reported, not raised."""
        if request.type not in AUTO_FULFILLED or request.is_paused:
            return self._view(caller, tenant, request)
        try:
            request = self._fulfil(caller, tenant, request)
        except EnclaveError as err:
            logger.warning("data-subject request left open",
                           extra={"dsr_id": request.request_id, "error_code": err.code})
            view = self._view(caller, tenant, request)
            view["fulfilment_error"] = {"code": err.code, "message": err.message}
            return view
        return self._view(caller, tenant, request)

    def _live_profile(self, tenant: Tenant, learner_id: str) -> dict[str, Any]:
        return live_profile(self._store.learner_items(tenant.jurisdiction, tenant.tenant_id, learner_id).get("P"))

    # -- read ----------------------------------------------------------------------------------

    def get(self, caller: Caller, tenant_id: str, request_id: str) -> dict[str, Any]:
        tenant = self._access.tenant(caller.principal, tenant_id, "request.read")
        request = self._load(tenant, request_id)
        view = self._view(caller, tenant, request)
        self._audit.commit(tenant.tenant_id, tenant.jurisdiction, caller.draft(
            "request.read", requests_resource(tenant.tenant_id, request_id), request_id=request_id,
            learner_id=request.learner_id, download_url_issued="download_url" in view))
        return view

    def _load(self, tenant: Tenant, request_id: str) -> DataSubjectRequest:
        require_id(request_id, "req", "request")
        request = self._requests.get(tenant.jurisdiction, tenant.tenant_id, request_id)
        if request is None:
            raise NotFound("no such request")
        return request

    def _view(self, caller: Caller, tenant: Tenant, request: DataSubjectRequest) -> dict[str, Any]:
        view = request.to_json()
        view.pop("region")
        now = self._clock()
        if request.is_paused:
            view["urgency"] = "paused"
        elif request.is_open:
            view["urgency"] = urgency(request.due_at, now, self._due_soon)
            if request.type == "rectification":
                view["next_step"] = ("correct the learner with PATCH .../learners/{learner_id}, then close this "
                                     "request with POST .../requests/{request_id}/fulfil")
        package = request.outcome.get("package")
        if package and request.fulfilled_at is not None:
            expires = request.fulfilled_at + PACKAGE_LIFETIME
            if now >= expires:
                view["package_expired_at"] = format_at(expires)
            elif self._access.permits(caller.principal, "request.download", tenant):
                view["download_url"] = self._package_url(tenant.tenant_id, request.request_id)
                view["download_expires_at"] = format_at(expires)
        return view

    # -- download ------------------------------------------------------------------------------

    def download(self, caller: Caller, tenant_id: str, request_id: str) -> dict[str, Any]:
        """``GET .../requests/{id}/package``: the access package, decrypted with the learner's key."""
        tenant = self._access.tenant(caller.principal, tenant_id, "request.download")
        return self._downloads.download(caller, tenant, request_id, self._load)

    # -- fulfil --------------------------------------------------------------------------------

    def close(self, caller: Caller, tenant_id: str, request_id: str, body: RequestClose) -> dict[str, Any]:
        """``POST .../fulfil``: fulfil an open request (retry, or rectification done) or reject it."""
        tenant = self._access.tenant(caller.principal, tenant_id, "request.fulfil")
        written = self._written.get((tenant.tenant_id, request_id))
        if written is not None and body.outcome == "fulfilled" and written[0].type == "rectification" \
                and not written[0].is_paused:
            closed = self._close_rectification_written(caller, tenant, *written)
            if closed is not None:
                return self._view(caller, tenant, closed)
        self._written.discard((tenant.tenant_id, request_id))
        request = self._load(tenant, request_id)
        if not request.is_open:
            raise Conflict(f"this request is {request.status} already", reason="request_closed")
        if request.is_paused and body.outcome == "fulfilled":
            raise Conflict("this request is paused: resume it (POST .../resume) when the information has arrived, "
                           "or reject it", reason="request_paused")
        if body.outcome == "rejected":
            assert body.reason is not None
            request = self._commit_close(caller, tenant, request.rejected(self._clock(), body.reason))
        else:
            request = self._fulfil(caller, tenant, request)
        return self._view(caller, tenant, request)

    # -- pause and resume (the law's stop-the-clock) -------------------------------------------------

    def pause(self, caller: Caller, tenant_id: str, request_id: str, body: RequestPause) -> dict[str, Any]:
        """``POST .../pause``: stop the clock while waiting for identity or clarification (422 where the law
        does not stop it, naming the law; 409 when closed or paused already)."""
        tenant = self._access.tenant(caller.principal, tenant_id, "request.pause")
        now = self._clock()
        check_clock_stop(self._jurisdictions.get(tenant.jurisdiction), body.reason, now)
        request = self._load(tenant, request_id)
        if not request.is_open or request.is_paused:
            state = "paused" if request.is_paused else request.status
            raise Conflict(f"this request is {state} already", reason=f"request_{state}")
        paused = request.paused(now, body.reason)
        self._commit_clock(caller, tenant, paused, was_paused=False, action="request.pause", reason=body.reason)
        return self._view(caller, tenant, paused)

    def resume(self, caller: Caller, tenant_id: str, request_id: str) -> dict[str, Any]:
        """``POST .../resume``: the information arrived; the due date moves by the paused time, and an access,
        erasure or restriction request held back by the pause is fulfilled now."""
        tenant = self._access.tenant(caller.principal, tenant_id, "request.pause")
        request = self._load(tenant, request_id)
        if not request.is_paused:
            raise Conflict("this request is not paused", reason="request_not_paused")
        resumed = request.resumed(self._clock())
        pause = resumed.pauses[-1]
        self._commit_clock(caller, tenant, resumed, was_paused=True, action="request.resume", reason=pause.reason,
                           paused_at=format_at(pause.paused_at), due_at=format_at(resumed.due_at))
        return self._fulfil_now(caller, tenant, resumed)

    def _commit_clock(self, caller: Caller, tenant: Tenant, request: DataSubjectRequest, *, was_paused: bool,
                      action: str, **details: Any) -> None:
        draft = caller.draft(action, requests_resource(tenant.tenant_id, request.request_id),
                             request_id=request.request_id, learner_id=request.learner_id, type=request.type,
                             **details)
        put = self._requests.put(request, new=False, was_paused=was_paused)
        try:
            self._audit.commit(tenant.tenant_id, tenant.jurisdiction, draft, [put])
        except ChangeRejected:
            self._written.discard((tenant.tenant_id, request.request_id))
            raise Conflict("this request changed meanwhile; read it again", reason="request_changed") from None
        self._wrote(tenant, request, put)

    def _fulfil(self, caller: Caller, tenant: Tenant, request: DataSubjectRequest) -> DataSubjectRequest:
        if request.type == "access":
            return self._fulfil_access(caller, tenant, request)
        if request.type == "erasure":
            return self._fulfil_erasure(caller, tenant, request)
        if request.type == "restriction":
            return self._fulfil_restriction(caller, tenant, request)
        return self._fulfil_rectification(caller, tenant, request)

    def _commit_close(self, caller: Caller, tenant: Tenant, closed: DataSubjectRequest,
                      extra: list[Any] | None = None, expected_doc: str | None = None,
                      **details: Any) -> DataSubjectRequest:
        draft = caller.draft("request.fulfil" if closed.status == "fulfilled" else "request.reject",
                             requests_resource(tenant.tenant_id, closed.request_id), request_id=closed.request_id,
                             learner_id=closed.learner_id, type=closed.type, status=closed.status,
                             **({"reason": closed.rejection_reason} if closed.rejection_reason else {}), **details)
        try:
            self._audit.commit(tenant.tenant_id, tenant.jurisdiction, draft,
                               [self._requests.put(closed, new=False, expected_doc=expected_doc), *(extra or [])])
        except ChangeRejected as exc:
            self._written.discard((tenant.tenant_id, closed.request_id))
            if exc.index == 0:
                raise Conflict("this request was closed meanwhile", reason="request_closed") from None
            raise Conflict("the learner changed meanwhile; retry") from None
        self._written.discard((tenant.tenant_id, closed.request_id))
        return closed

    def _fulfil_access(self, caller: Caller, tenant: Tenant, request: DataSubjectRequest) -> DataSubjectRequest:
        now = self._clock()
        package, learner_key, learner_record = self._packages.build(tenant, request, now)
        sealed = learner_key.cipher.encrypt_field(f"{PACKAGE_RECORD}:{request.request_id}", "package",
                                                  json.dumps(package, ensure_ascii=False, separators=(",", ":")))
        key = f"requests/{tenant.tenant_id}/{request.request_id}/access-package{PACKAGE_SUFFIX}"
        size = self._bucket.upload_lines(key, [sealed], "text/plain")
        contents = package["contents"]
        closed = request.fulfilled(now, package={"key": key, "bytes": size, "contents": contents})
        sealed_with = self._store.learner_key_check(tenant.jurisdiction, tenant.tenant_id, request.learner_id,
                                                    learner_record.fingerprint)  # erased meanwhile: stays open
        closed = self._commit_close(caller, tenant, closed, [sealed_with], package_bytes=size, **contents)
        self._downloads.remember(tenant, closed, learner_record)
        return closed

    def _fulfil_erasure(self, caller: Caller, tenant: Tenant, request: DataSubjectRequest) -> DataSubjectRequest:
        try:
            receipt = self._erasure.shred(caller, tenant, request.learner_id, "learner.erase")
        except Gone as gone:  # erased already (an earlier attempt, or another path): the duty is done, but
            # this fulfilment destroyed nothing; the receipt says so (the earlier erasure has its own event)
            receipt = {"learner_id": request.learner_id, "erased_at": gone.details.get("erased_at"),
                       "key_destroyed": False, "already_erased": True}
        return self._commit_close(caller, tenant, request.fulfilled(self._clock(), receipt=receipt))

    def _fulfil_restriction(self, caller: Caller, tenant: Tenant,
                            request: DataSubjectRequest) -> DataSubjectRequest:
        profile = self._live_profile(tenant, request.learner_id)
        now = self._clock()
        if "restricted_at" in profile:
            closed = request.fulfilled(now, restricted_at=profile["restricted_at"]["S"])
            return self._commit_close(caller, tenant, closed)
        closed = request.fulfilled(now, restricted_at=format_at(now))
        mark = self._requests.restrict_profile(tenant.jurisdiction, profile, format_at(now), request.request_id)
        return self._commit_close(caller, tenant, closed, [mark])

    def _close_rectification_written(self, caller: Caller, tenant: Tenant, request: DataSubjectRequest,
                                     doc: str) -> DataSubjectRequest | None:
        """Close a rectification request this container wrote within the minute, on the learner's profile it
        read or wrote within the minute: one transaction, conditioned on both being unchanged; None when
        either is not cached, cannot tell, or changed (the full path then reads)."""
        profile = self._learners.cached_profile(tenant, request.learner_id) if self._learners else None
        versions = None if profile is None else _rectified_since(profile, format_at(request.received_at))
        if profile is None or not versions:
            return None
        check = self._store.profile_version_check(tenant.jurisdiction, tenant.tenant_id, request.learner_id,
                                                  int(profile["version"]["N"]))
        try:
            return self._commit_close(caller, tenant, request.fulfilled(self._clock(), rectified_versions=versions),
                                      [check], expected_doc=doc)
        except Conflict:
            return None

    def _fulfil_rectification(self, caller: Caller, tenant: Tenant,
                              request: DataSubjectRequest) -> DataSubjectRequest:
        received = format_at(request.received_at)
        profile = self._store.profiles_of(tenant.jurisdiction, tenant.tenant_id, [request.learner_id]).get(
            request.learner_id)
        remembered = None if profile is None else _rectified_since(profile, received)
        if remembered is not None:  # the profile remembers its rectifications: no scan of the audit trail
            if not remembered:
                raise Conflict("no rectification of this learner was recorded since the request was received: "
                               "PATCH the learner first, or reject the request", reason="rectification_not_recorded")
            assert profile is not None
            check = self._store.profile_version_check(tenant.jurisdiction, tenant.tenant_id, request.learner_id,
                                                      int(profile["version"]["N"]))
            return self._commit_close(caller, tenant, request.fulfilled(self._clock(), rectified_versions=remembered),
                                      [check])
        versions = [event["details"].get("version") for event in self._audit.events(tenant.tenant_id,
                                                                                  tenant.jurisdiction)
                    if event["action"] == "learner.update" and event["outcome"] == "success"
                    and event["details"].get("learner_id") == request.learner_id and event["at"] >= received]
        if not versions:
            raise Conflict("no rectification of this learner was recorded since the request was received: "
                           "PATCH the learner first, or reject the request", reason="rectification_not_recorded")
        return self._commit_close(caller, tenant, request.fulfilled(self._clock(), rectified_versions=versions))

    # -- the tenant's list ---------------------------------------------------------------------------

    def list_tenant(self, caller: Caller, tenant_id: str, request: PageRequest,
                    query: Mapping[str, str]) -> dict[str, Any]:
        """``GET .../requests``: one page of the tenant's requests (``status``, ``due_before`` filter), in id
        order, sorted by due date within the page; each with its urgency and, for the tenant's own users,
        the learner's name. One audit event names the requests and learners listed."""
        status, due_before = tenant_list_query(query)
        tenant = self._access.tenant(caller.principal, tenant_id, "request.list")
        now = self._clock()

        def keep(r: DataSubjectRequest) -> bool:
            due = due_before is None or (r.is_open and r.due_at < due_before)
            return (status is None or r.status == status) and due

        found, last = self._requests.tenant_page(tenant.jurisdiction, tenant.tenant_id, request.after, request.limit,
                                                 keep)
        named = self._access.permits(caller.principal, "learner.list", tenant)
        names = self._learner_names(tenant, [r.learner_id for r in found]) if named else {}
        items = []
        for r in sorted(found, key=lambda r: (r.due_at, r.request_id)):
            view = r.to_json()
            view.pop("region")
            view["urgency"] = "paused" if r.is_paused else urgency(r.due_at, now, self._due_soon) if r.is_open \
                else r.status
            if r.learner_id in names:
                view["learner_name"] = names[r.learner_id]
            items.append(view)
        self._audit.commit(tenant.tenant_id, tenant.jurisdiction, caller.draft(
            "request.list", requests_resource(tenant.tenant_id), count=len(items),
            request_ids=[i["request_id"] for i in items], learner_ids=sorted({r.learner_id for r in found}),
            names=named, **({"status": status} if status else {})))
        return {"items": items, "next_cursor": encode_cursor(last) if last else None, "as_of": format_at(now)}

    def _learner_names(self, tenant: Tenant, learner_ids: list[str]) -> dict[str, str]:
        profiles, key_items = self._store.profiles_and_keys(tenant.jurisdiction, tenant.tenant_id, learner_ids)
        return names_of(tenant.tenant_id, profiles, key_items, lambda record: self._keys.unwrap(tenant, record),
                        open_profile)

    # -- overdue -------------------------------------------------------------------------------

    def overdue(self, caller: Caller, include_due_soon: bool = True,
                due_within: timedelta | None = None) -> dict[str, Any]:
        """Open requests of this deployment's region past ``due_at`` (and, by default, due soon)."""
        self._access.region(caller.principal, "request.list_overdue")
        now = self._clock()
        soon = (self._due_soon if due_within is None else due_within) if include_due_soon else timedelta(0)
        try:
            policy = self._jurisdictions.by_region(self._region)
        except NotFound:
            found: list[DataSubjectRequest] = []
        else:
            found = [r for r in self._requests.open_due_by(policy.code, self._region, format_at(now + soon))
                     if r.is_open and urgency(r.due_at, now, soon) != "on_time"]
        by_tenant: dict[str, list[DataSubjectRequest]] = {}
        for request in found:
            by_tenant.setdefault(request.tenant_id, []).append(request)
        for tenant_id, group in by_tenant.items():  # each tenant's chain records that its requests were listed
            self._audit.commit(tenant_id, group[0].jurisdiction, caller.draft(
                "request.list_overdue", requests_resource(tenant_id), count=len(group),
                request_ids=[r.request_id for r in group], learner_ids=sorted({r.learner_id for r in group})))
        items = []
        for request in found:
            view = request.to_json()
            view["urgency"] = urgency(request.due_at, now, soon)
            items.append(view)
        return {"region": self._region, "as_of": format_at(now), "due_soon_days": soon.days, "items": items}


def _rectified_since(profile: dict[str, Any], received: str) -> list[int] | None:
    """The versions the profile's rectifications wrote at or after ``received``; None when the profile cannot
    tell (erased, written before it remembered them, or more rectifications than it keeps)."""
    if "erased_at" in profile:
        return None
    known = rectifications_of(profile)
    if known is None or (len(known) >= RECTIFICATIONS_KEPT and known[0][1] >= received):
        return None
    return [version for version, at in known if at >= received]
