"""The access package: everything held on one learner, decrypted, with nothing about anyone else.

Built when an access request is fulfilled (``RequestService``): the profile, results, consents and any
other record under the learner (each decrypted with the learner's key, its record type taken from the
item's key, never from an attribute), the requests about them and every audit event that names them,
other learners' ids blanked. The caller seals it with the same learner key.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from chalicelib.adapters.audit_store import AuditStore
from chalicelib.adapters.data_store import DataStore, envelopes_of, wrapped_learner_key
from chalicelib.adapters.request_store import RequestStore
from chalicelib.domain.audit import format_at
from chalicelib.domain.crypto import LearnerKey, WrappedLearnerKey
from chalicelib.domain.errors import Gone, IntegrityError
from chalicelib.domain.learners import result_view
from chalicelib.domain.requests import DataSubjectRequest
from chalicelib.domain.tenants import Tenant
from chalicelib.services.keys.tenant_keys import TenantKeyService
from chalicelib.services.learners.service import learner_view, oldest_first, open_profile

PACKAGE_FORMAT = "enclave.access-package/1"
OTHER_LEARNER = "lrn_[another learner]"
LEARNER_ID = re.compile(r"lrn_[a-z2-7]{26}")
_NOT_DATA = frozenset({"pk", "sk", "fields", "lookup_pk", "lookup_sk", "blob"})


class AccessPackages:
    def __init__(self, store: DataStore, requests: RequestStore, keys: TenantKeyService, audit: AuditStore,
                 cached_key: Callable[[Tenant, str], WrappedLearnerKey | None] | None = None) -> None:
        """``cached_key``: the learner's wrapped key if this container read it within the minute (the package
        is then sealed with it, and the caller's transaction must check that key item still exists)."""
        self._cached_key = cached_key or (lambda tenant, learner_id: None)
        self._store = store
        self._requests = requests
        self._keys = keys
        self._audit = audit

    def build(self, tenant: Tenant, request: DataSubjectRequest,
              now: datetime) -> tuple[dict[str, Any], LearnerKey, WrappedLearnerKey]:
        """Everything held on the learner, decrypted; nothing about anyone else. With the learner's key,
        which seals it (and its stored, wrapped form)."""
        learner_id = request.learner_id
        cached = self._cached_key(tenant, learner_id)
        items = self._store.everything_about(tenant.jurisdiction, tenant.tenant_id, learner_id,
                                             with_key=cached is None)
        by_kind: dict[str, list[dict[str, Any]]] = {}
        for item in items:
            by_kind.setdefault(item["sk"]["S"].split("#")[2], []).append(item)
        profiles, keys = by_kind.pop("P", []), by_kind.pop("K", [])
        if not profiles or "erased_at" in profiles[0]:
            raise Gone("this learner was erased")
        if not keys and cached is None:
            raise IntegrityError("the learner's key is missing")
        profile = profiles[0]
        record = cached or wrapped_learner_key(tenant.tenant_id, learner_id, keys[0])
        key = self._keys.unwrap(tenant, record)
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
        }, key, record

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
