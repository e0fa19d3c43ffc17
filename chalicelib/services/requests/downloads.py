"""Downloading an access package: ``GET .../requests/{id}/package`` (see ``services/requests/service.py``).

The package is an object in the regional export bucket, sealed with the learner's own key. For a minute
after this container fulfilled (or served) an access request it keeps the request (closed: it never
changes again) and the WRAPPED key that sealed the package: a download then reads only the bucket, and
its audit event's transaction checks that the key item still exists, so an erasure elsewhere still
shreds the package (the route answers 410 as before).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from chalicelib.adapters.audit_store import AuditStore, ChangeRejected
from chalicelib.adapters.data_store import DataStore, wrapped_learner_key
from chalicelib.adapters.export_bucket import ExportBucket
from chalicelib.domain.audit import format_at
from chalicelib.domain.crypto import TtlCache, WrappedLearnerKey
from chalicelib.domain.errors import Conflict, Gone, IntegrityError
from chalicelib.domain.requests import PACKAGE_LIFETIME, DataSubjectRequest
from chalicelib.domain.tenants import Tenant
from chalicelib.services.context import Caller
from chalicelib.services.keys.tenant_keys import TenantKeyService

PACKAGE_RECORD = "access_package"
"""Record type bound into the package envelope (``access_package:<request_id>``, field ``package``)."""
PACKAGE_SUFFIX = ".v1.enc"


def requests_resource(tenant_id: str, request_id: str | None = None) -> str:
    base = f"tenants/{tenant_id}/requests"
    return f"{base}/{request_id}" if request_id else base


class PackageDownloads:
    def __init__(self, store: DataStore, keys: TenantKeyService, audit: AuditStore, bucket: ExportBucket,
                 clock: Callable[[], datetime]) -> None:
        self._store = store
        self._keys = keys
        self._audit = audit
        self._bucket = bucket
        self._clock = clock
        self._sealed: TtlCache[tuple[str, str], tuple[DataSubjectRequest, WrappedLearnerKey]] = TtlCache(2_000, 60.0)

    def forget(self) -> None:
        self._sealed.clear()

    def remember(self, tenant: Tenant, request: DataSubjectRequest, record: WrappedLearnerKey) -> None:
        """A fulfilled access request and the wrapped key that sealed its package (fulfilled here just now)."""
        self._sealed.put((tenant.tenant_id, request.request_id), (request, record))

    def download(self, caller: Caller, tenant: Tenant, request_id: str,
                 load: Callable[[Tenant, str], DataSubjectRequest]) -> dict[str, Any]:
        """The package, decrypted with the learner's key: from the minute's cache when it can answer, else
        read (``load`` the request, then the learner's key and profile)."""
        sealed = self._sealed.get((tenant.tenant_id, request_id))
        if sealed is not None and sealed[1].tenant_key_version in self._keys.keys_for(tenant).versions:
            answer = self._download_sealed(caller, tenant, *sealed)
            if answer is not None:
                return answer
        self._sealed.discard((tenant.tenant_id, request_id))
        request = load(tenant, request_id)
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
        record = wrapped_learner_key(tenant.tenant_id, request.learner_id, key_item)
        body = self._opened(caller, tenant, request, record, envelope)
        self._audit.commit(tenant.tenant_id, tenant.jurisdiction,
                           caller.draft("request.download", resource, **ids, package_bytes=len(envelope)))
        self._sealed.put((tenant.tenant_id, request_id), (request, record))
        return body

    def _download_sealed(self, caller: Caller, tenant: Tenant, request: DataSubjectRequest,
                         record: WrappedLearnerKey) -> dict[str, Any] | None:
        """The download of a package fulfilled or read here within the minute: the bucket's object, opened
        with the cached wrapped key, answered once the audit event is stored with a check that this key
        item still exists; None when the cache cannot answer (expired, object gone, key erased: the full
        path then reads and says why)."""
        assert request.fulfilled_at is not None
        package = request.outcome["package"]
        if self._clock() >= request.fulfilled_at + PACKAGE_LIFETIME:
            return None
        envelope = self._bucket.get_text(str(package["key"]))
        if envelope is None:
            return None
        body = self._opened(caller, tenant, request, record, envelope)
        ids = {"request_id": request.request_id, "learner_id": request.learner_id}
        resource = requests_resource(tenant.tenant_id, request.request_id) + "/package"
        check = self._store.learner_key_check(tenant.jurisdiction, tenant.tenant_id, request.learner_id,
                                              record.fingerprint)
        try:
            self._audit.commit(tenant.tenant_id, tenant.jurisdiction,
                               caller.draft("request.download", resource, **ids, package_bytes=len(envelope)), [check])
        except ChangeRejected:
            return None
        return body

    def _opened(self, caller: Caller, tenant: Tenant, request: DataSubjectRequest, record: WrappedLearnerKey,
                envelope: str) -> dict[str, Any]:
        key = self._keys.unwrap(tenant, record)
        try:
            text = key.cipher.decrypt_field(f"{PACKAGE_RECORD}:{request.request_id}", "package", envelope.strip())
        except IntegrityError:
            self._keys.alarm(tenant, "integrity_error", {"request_id": request.request_id,
                                                        "learner_id": request.learner_id},
                             actor=(caller.principal.sub, caller.principal.role.value), action="request.download",
                             resource=requests_resource(tenant.tenant_id, request.request_id) + "/package")
            raise
        body: dict[str, Any] = json.loads(text)
        return body

    def _refused(self, caller: Caller, tenant: Tenant, resource: str, outcome: str, **ids: str) -> None:
        self._audit.commit(tenant.tenant_id, tenant.jurisdiction,
                           caller.draft("request.download", resource, outcome=outcome, **ids))
