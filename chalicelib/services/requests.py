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
import re
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

from chalicelib.adapters.audit_store import AuditStore, ChangeRejected
from chalicelib.adapters.data_store import DataStore, envelopes_of, live_profile, wrapped_learner_key
from chalicelib.adapters.export_bucket import ExportBucket
from chalicelib.adapters.request_store import RequestStore
from chalicelib.domain.applicable import TenantScope
from chalicelib.domain.audit import format_at
from chalicelib.domain.crypto import LearnerKey
from chalicelib.domain.errors import (
    Conflict,
    EnclaveError,
    Gone,
    IntegrityError,
    NotFound,
)
from chalicelib.domain.ids import new_id, require_id
from chalicelib.domain.jurisdictions import JurisdictionCatalog
from chalicelib.domain.learners import result_view
from chalicelib.domain.requests import (
    AUTO_FULFILLED,
    DUE_SOON,
    PACKAGE_LIFETIME,
    DataSubjectRequest,
    RequestClose,
    RequestCreate,
    received_moment,
    urgency,
)
from chalicelib.domain.tenants import Tenant
from chalicelib.logs import logger
from chalicelib.services.access import AccessControl
from chalicelib.services.context import Caller
from chalicelib.services.erasure import ErasureService
from chalicelib.services.idempotency import Idempotency
from chalicelib.services.keys import TenantKeyService
from chalicelib.services.learners import learner_view, oldest_first, open_profile

PACKAGE_FORMAT = "enclave.access-package/1"
PACKAGE_RECORD = "access_package"
"""Record type bound into the package envelope (``access_package:<request_id>``, field ``package``)."""
PACKAGE_SUFFIX = ".v1.enc"
OTHER_LEARNER = "lrn_[another learner]"
LEARNER_ID = re.compile(r"lrn_[a-z2-7]{26}")
_NOT_DATA = frozenset({"pk", "sk", "fields", "lookup_pk", "lookup_sk", "blob"})


def requests_resource(tenant_id: str, request_id: str | None = None) -> str:
    base = f"tenants/{tenant_id}/requests"
    return f"{base}/{request_id}" if request_id else base


class RequestService:
    def __init__(self, access: AccessControl, store: DataStore, requests: RequestStore, keys: TenantKeyService,
                 audit: AuditStore, idempotency: Idempotency, bucket: ExportBucket, erasure: ErasureService,
                 jurisdictions: JurisdictionCatalog, region: str, clock: Callable[[], datetime],
                 package_url: Callable[[str, str], str], due_soon: timedelta = DUE_SOON) -> None:
        """``package_url(tenant_id, request_id)`` is the package route's absolute URL on this deployment."""
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

    # -- create --------------------------------------------------------------------------------

    def create(self, caller: Caller, tenant_id: str, body: RequestCreate,
               idempotency_key: str | None = None) -> dict[str, Any]:
        tenant = self._access.tenant(caller.principal, tenant_id, "request.create")
        now = self._clock()
        received = received_moment(body.received_at, now)
        scope = self._idempotency.scope(caller, tenant, "requests", body, idempotency_key)
        # No read before the write: the transaction checks the learner (exists, not erased) and the claim;
        # only a refusal reads, to replay a retry or say 404/410 (one round trip on the way that succeeds)
        request = DataSubjectRequest.new(new_id("req"), tenant.tenant_id, tenant.home_region, body.learner_id,
                                         body.type, received, now, self._jurisdictions, TenantScope.of(tenant))
        changes = [self._requests.put(request, new=True),
                   self._store.learner_exists_check(tenant.jurisdiction, tenant.tenant_id, body.learner_id)]
        changes += self._idempotency.claims(scope, request.request_id)
        draft = caller.draft("request.create", requests_resource(tenant.tenant_id, request.request_id),
                             request_id=request.request_id, learner_id=request.learner_id, type=request.type,
                             received_at=format_at(request.received_at), due_at=format_at(request.due_at))
        try:
            self._audit.commit(tenant.tenant_id, tenant.jurisdiction, draft, changes)
        except ChangeRejected:
            earlier = self._idempotency.earlier(scope)  # a retry: an earlier request holds the claim
            if earlier is not None:
                return self.get(caller, tenant.tenant_id, earlier)
            self._live_profile(tenant, body.learner_id)  # 404 unknown, 410 erased
            raise Conflict("the learner changed meanwhile; retry") from None
        return self._fulfil_now(caller, tenant, request)

    def _fulfil_now(self, caller: Caller, tenant: Tenant, request: DataSubjectRequest) -> dict[str, Any]:
        """Fulfil an auto-fulfilled type; a failure leaves the request open and is reported, not raised."""
        if request.type not in AUTO_FULFILLED:
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
        if request.is_open:
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
        request = self._load(tenant, request_id)
        package = request.outcome.get("package")
        if request.type != "access" or request.status != "fulfilled" or not package or request.fulfilled_at is None:
            raise Conflict("this request has no access package", reason="no_package")
        resource = requests_resource(tenant.tenant_id, request_id) + "/package"
        ids = {"request_id": request_id, "learner_id": request.learner_id}
        expires = request.fulfilled_at + PACKAGE_LIFETIME
        if self._clock() >= expires or not str(package["key"]).endswith(PACKAGE_SUFFIX):
            self._refused(caller, tenant, resource, "package_expired", **ids)
            raise Gone("the access package has expired; record a new access request",
                       reason="package_expired", package_expired_at=format_at(expires))
        items = self._store.learner_items(tenant.jurisdiction, tenant.tenant_id, request.learner_id)
        profile, key_item = items.get("P"), items.get("K")
        if profile is None or "erased_at" in profile or key_item is None:
            self._refused(caller, tenant, resource, "learner_erased", **ids)
            raise Gone("the package was shredded with the learner", reason="learner_erased")
        envelope = self._bucket.get_text(str(package["key"]))
        if envelope is None:
            self._refused(caller, tenant, resource, "package_expired", **ids)
            raise Gone("the access package has expired; record a new access request",
                       reason="package_expired", package_expired_at=format_at(expires))
        key = self._keys.unwrap(tenant, wrapped_learner_key(tenant.tenant_id, request.learner_id, key_item))
        try:
            text = key.cipher.decrypt_field(f"{PACKAGE_RECORD}:{request_id}", "package", envelope.strip())
        except IntegrityError:
            self._keys.alarm(tenant, "integrity_error", ids, actor=(caller.principal.sub, caller.principal.role.value),
                             action="request.download", resource=resource)
            raise
        body: dict[str, Any] = json.loads(text)
        self._audit.commit(tenant.tenant_id, tenant.jurisdiction,
                           caller.draft("request.download", resource, **ids, package_bytes=len(envelope)))
        return body

    def _refused(self, caller: Caller, tenant: Tenant, resource: str, outcome: str, **ids: str) -> None:
        self._audit.commit(tenant.tenant_id, tenant.jurisdiction,
                           caller.draft("request.download", resource, outcome=outcome, **ids))

    # -- fulfil --------------------------------------------------------------------------------

    def close(self, caller: Caller, tenant_id: str, request_id: str, body: RequestClose) -> dict[str, Any]:
        """``POST .../fulfil``: fulfil an open request (retry, or rectification done) or reject it."""
        tenant = self._access.tenant(caller.principal, tenant_id, "request.fulfil")
        request = self._load(tenant, request_id)
        if not request.is_open:
            raise Conflict(f"this request is {request.status} already", reason="request_closed")
        if body.outcome == "rejected":
            assert body.reason is not None
            request = self._commit_close(caller, tenant, request.rejected(self._clock(), body.reason))
        else:
            request = self._fulfil(caller, tenant, request)
        return self._view(caller, tenant, request)

    def _fulfil(self, caller: Caller, tenant: Tenant, request: DataSubjectRequest) -> DataSubjectRequest:
        if request.type == "access":
            return self._fulfil_access(caller, tenant, request)
        if request.type == "erasure":
            return self._fulfil_erasure(caller, tenant, request)
        if request.type == "restriction":
            return self._fulfil_restriction(caller, tenant, request)
        return self._fulfil_rectification(caller, tenant, request)

    def _commit_close(self, caller: Caller, tenant: Tenant, closed: DataSubjectRequest,
                      extra: list[Any] | None = None, **details: Any) -> DataSubjectRequest:
        draft = caller.draft("request.fulfil" if closed.status == "fulfilled" else "request.reject",
                             requests_resource(tenant.tenant_id, closed.request_id), request_id=closed.request_id,
                             learner_id=closed.learner_id, type=closed.type, status=closed.status,
                             **({"reason": closed.rejection_reason} if closed.rejection_reason else {}), **details)
        try:
            self._audit.commit(tenant.tenant_id, tenant.jurisdiction, draft,
                               [self._requests.put(closed, new=False), *(extra or [])])
        except ChangeRejected as exc:
            if exc.index == 0:
                raise Conflict("this request was closed meanwhile", reason="request_closed") from None
            raise Conflict("the learner changed meanwhile; retry") from None
        return closed

    def _fulfil_access(self, caller: Caller, tenant: Tenant, request: DataSubjectRequest) -> DataSubjectRequest:
        now = self._clock()
        package, learner_key = self._package(tenant, request, now)
        sealed = learner_key.cipher.encrypt_field(f"{PACKAGE_RECORD}:{request.request_id}", "package",
                                                  json.dumps(package, ensure_ascii=False, separators=(",", ":")))
        key = f"requests/{tenant.tenant_id}/{request.request_id}/access-package{PACKAGE_SUFFIX}"
        size = self._bucket.upload_lines(key, [sealed], "text/plain")
        contents = package["contents"]
        closed = request.fulfilled(now, package={"key": key, "bytes": size, "contents": contents})
        return self._commit_close(caller, tenant, closed, package_bytes=size, **contents)

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

    def _fulfil_rectification(self, caller: Caller, tenant: Tenant,
                              request: DataSubjectRequest) -> DataSubjectRequest:
        received = format_at(request.received_at)
        versions = [event["details"].get("version") for event in self._audit.events(tenant.tenant_id,
                                                                                  tenant.jurisdiction)
                    if event["action"] == "learner.update" and event["outcome"] == "success"
                    and event["details"].get("learner_id") == request.learner_id and event["at"] >= received]
        if not versions:
            raise Conflict("no rectification of this learner was recorded since the request was received: "
                           "PATCH the learner first, or reject the request", reason="rectification_not_recorded")
        return self._commit_close(caller, tenant, request.fulfilled(self._clock(), rectified_versions=versions))

    # -- the access package --------------------------------------------------------------------

    def _package(self, tenant: Tenant, request: DataSubjectRequest,
                 now: datetime) -> tuple[dict[str, Any], LearnerKey]:
        """Everything held on the learner, decrypted; nothing about anyone else. With the learner's key,
        which seals it."""
        learner_id = request.learner_id
        items = self._store.everything_about(tenant.jurisdiction, tenant.tenant_id, learner_id)
        by_kind: dict[str, list[dict[str, Any]]] = {}
        for item in items:
            by_kind.setdefault(item["sk"]["S"].split("#")[2], []).append(item)
        profiles, keys = by_kind.pop("P", []), by_kind.pop("K", [])
        if not profiles or "erased_at" in profiles[0]:
            raise Gone("this learner was erased")
        if not keys:
            raise IntegrityError("the learner's key is missing")
        profile = profiles[0]
        key = self._keys.unwrap(tenant, wrapped_learner_key(tenant.tenant_id, learner_id, keys[0]))
        meta = {"version": int(profile["version"]["N"]), "created_at": profile["created_at"]["S"],
                "updated_at": profile["updated_at"]["S"]}
        if "restricted_at" in profile:
            meta["restricted_at"] = profile["restricted_at"]["S"]
        results = oldest_first([self._result(key, item) for item in by_kind.pop("R", [])])
        consents = sorted((_renamed(self._record(key, "consent", item), "record_id", "consent_id")
                           for item in by_kind.pop("C", [])), key=lambda c: str(c.get("at", "")))
        other = [self._record(key, kind, item) for kind, group in sorted(by_kind.items()) for item in group]
        requests = [_blank_others(r.to_json(), learner_id)
                    for r in self._requests.about_learner(tenant.jurisdiction, tenant.tenant_id, learner_id)]
        events = [_blank_others(event, learner_id) for event in self._events_about(tenant, learner_id)]
        return {
            "format": PACKAGE_FORMAT, "generated_at": format_at(now), "request_id": request.request_id,
            "tenant_id": tenant.tenant_id, "jurisdiction": tenant.jurisdiction, "learner_id": learner_id,
            "right": {"rule": request.deadline["rule"], "sources": list(request.deadline["sources"])},
            "contents": {"results": len(results), "consents": len(consents), "other_records": len(other),
                         "requests": len(requests), "audit_events": len(events)},
            "profile": learner_view(learner_id, open_profile(key, profile), meta),
            "results": results, "consents": consents, "other_records": other,
            "requests": requests, "audit_events": events,
        }, key

    @staticmethod
    def _result(key: LearnerKey, item: dict[str, Any]) -> dict[str, Any]:
        result_id = item["sk"]["S"].rsplit("#", 1)[-1]  # the record type comes from the key, never an attribute
        plain = key.cipher.decrypt_record(f"result:{result_id}", envelopes_of(item))
        return result_view(result_id, dict(plain), item["recorded_at"]["S"])

    @staticmethod
    def _record(key: LearnerKey, kind: str, item: dict[str, Any]) -> dict[str, Any]:
        """A sub-record of any kind: its stored attributes, and its encrypted fields decrypted.

        The record type bound into the ciphertexts is ``<kind>:<record_id>`` (as results do) or
        ``<kind>``; a record readable under neither is a fault, not something to leave out silently.
        """
        record = {name: _plain(value) for name, value in item.items() if name not in _NOT_DATA}
        envelopes = envelopes_of(item) if "fields" in item else {}
        if not envelopes:
            return record
        record_id = item["sk"]["S"].rsplit("#", 1)[-1]  # from the key: a stored attribute could be rewritten
        for record_type in (f"{kind}:{record_id}", kind):
            try:
                return {**record, **key.cipher.decrypt_record(record_type, envelopes)}
            except IntegrityError:
                continue
        raise IntegrityError("a record held on the learner could not be decrypted for the access package")

    def _events_about(self, tenant: Tenant, learner_id: str) -> Iterator[dict[str, Any]]:
        """The tenant's audit events whose resource or details name the learner (a scan of the chain)."""
        for event in self._audit.events(tenant.tenant_id, tenant.jurisdiction):
            if learner_id in event.get("resource", "") or learner_id in json.dumps(event.get("details", {})):
                yield event

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


_SCALARS: dict[str, Callable[[Any], Any]] = {
    "S": str, "BOOL": bool, "SS": sorted, "NS": sorted,
    "N": lambda text: int(float(text)) if float(text).is_integer() else float(text),
}


def _plain(value: dict[str, Any]) -> Any:
    """A DynamoDB attribute value as JSON (binary values are not data about a person: left out)."""
    kind, inner = next(iter(value.items()))
    if kind == "L":
        return [_plain(v) for v in inner]
    if kind == "M":
        return {k: _plain(v) for k, v in inner.items()}
    convert = _SCALARS.get(kind)
    return convert(inner) if convert else None


def _renamed(record: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    """A consent as the consents API names its id (stored as ``record_id``)."""
    if old in record:
        record[new] = record.pop(old)
    return record


def _blank_others(value: Any, learner_id: str) -> Any:
    """``value`` with every learner id other than ``learner_id`` blanked (an audit event of a search may
    name several learners; the package is about one)."""
    if isinstance(value, str):
        return LEARNER_ID.sub(lambda m: m.group(0) if m.group(0) == learner_id else OTHER_LEARNER, value)
    if isinstance(value, list):
        return [_blank_others(v, learner_id) for v in value]
    if isinstance(value, dict):
        return {k: _blank_others(v, learner_id) for k, v in value.items()}
    return value
