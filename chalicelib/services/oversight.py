"""What a compliance officer's home page summarises per tenant, from the records themselves.

* ``audit_status``: the chain's head and its last verification and last export, read from the chain's
  own ``audit.verify`` / ``audit.export`` events (and ``audit.read`` of a whole NDJSON or CSV range, the
  console's download) newest first. Recorded as ``audit.status``.
* ``activity``: events per hour of a time range (30 days by default, at most 92) and the signed
  checkpoints in it, for the console's picture of the chain; read from the head backwards. Recorded as
  ``audit.read`` with ``format: "activity"`` (not a download: the audit status does not count it as one).
* ``consent_coverage``: per purpose of the tenant's law pack, how many live learners have consent
  granted, withdrawn or no decision at all. Counts only: the answer and its ``consent.coverage`` event
  name no learner. Read from the running counts that enrolment, each consent decision and erasure keep
  in their own transactions (``adapters/consent_counts.py``: a fixed number of items, whatever the
  tenant's size); a tenant onboarded before them is counted from the non-personal attributes of its
  items (consent decisions are not encrypted, see ``services/consents.py``; profiles for ``erased_at``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.adapters.audit_latest import AuditLatest
from chalicelib.adapters.audit_store import AuditStore
from chalicelib.adapters.consent_counts import ConsentCounts, Counts
from chalicelib.adapters.data_store import DataStore
from chalicelib.domain.audit import format_at
from chalicelib.domain.catalog import JurisdictionCatalog
from chalicelib.domain.consents import ConsentRecord, current_state
from chalicelib.domain.errors import ValidationFailed
from chalicelib.services.access import AccessControl
from chalicelib.services.consents import _record as consent_record
from chalicelib.services.context import Caller

ACTIVITY_DAYS = timedelta(days=30)
MAX_ACTIVITY = timedelta(days=92)
STRAGGLERS = timedelta(minutes=10)  # an event may be stamped a little before the one sealed ahead of it
WHOLE_RANGE_FORMATS = ("ndjson", "csv")
CONSENT_ATTRIBUTES = "sk, erased_at, record_id, purpose, decision, given_by, verification, lawful_basis, " \
                     "policy_version, #at"


def _kind(event: dict[str, Any]) -> str | None:
    if event.get("outcome") != "success":
        return None
    if event["action"] == "audit.verify":
        return "verification"
    whole_read = event["action"] == "audit.read" and event["details"].get("format") in WHOLE_RANGE_FORMATS
    return "export" if event["action"] == "audit.export" or whole_read else None


def _verification(event: dict[str, Any] | None) -> dict[str, Any] | None:
    if event is None:
        return None
    return {"at": event["at"], "seq": event["seq"], "valid": bool(event["details"].get("valid")),
            "events": event["details"].get("events"), "by_role": event["actor"]["role"]}


def _export(event: dict[str, Any] | None) -> dict[str, Any] | None:
    if event is None:
        return None
    details = event["details"]
    return {"at": event["at"], "seq": event["seq"], "by_role": event["actor"]["role"],
            "kind": "bucket" if event["action"] == "audit.export" else "download",
            "format": details.get("format", "ndjson"), "events": details.get("events")}


class Oversight:
    def __init__(self, access: AccessControl, audit: AuditStore, latest: AuditLatest, data: DataStore,
                 jurisdictions: JurisdictionCatalog, clock: Callable[[], datetime],
                 counts: ConsentCounts | None = None) -> None:
        self._counts = counts
        self._access = access
        self._audit = audit
        self._latest = latest
        self._data = data
        self._jurisdictions = jurisdictions
        self._clock = clock

    def audit_status(self, caller: Caller, tenant_id: str) -> dict[str, Any]:
        """``GET .../audit/status``: head, last verification, last export (each null when never done)."""
        tenant = self._access.tenant(caller.principal, tenant_id, "audit.read")
        head_seq, head_hash = self._audit.head(tenant.tenant_id, tenant.jurisdiction)  # seals what is pending
        newest = self._latest.newest(tenant.tenant_id, tenant.jurisdiction, 2, _kind) if head_seq else {}
        self._audit.commit(tenant.tenant_id, tenant.jurisdiction, caller.draft(
            "audit.status", f"tenants/{tenant.tenant_id}/audit/status", head_seq=head_seq))
        return {"tenant_id": tenant.tenant_id, "name": tenant.name, "jurisdiction": tenant.jurisdiction,
                "events": head_seq, "head_hash": head_hash if head_seq else None, "as_of": format_at(self._clock()),
                "last_verification": _verification(newest.get("verification")),
                "last_export": _export(newest.get("export"))}

    def activity(self, caller: Caller, tenant_id: str, query: Mapping[str, str]) -> dict[str, Any]:
        """``GET .../audit/activity``: events per hour (UTC) of ``[from, to)`` and the checkpoints signed in it."""
        tenant = self._access.tenant(caller.principal, tenant_id, "audit.read")
        high = _moment(query, "to") or self._clock()
        low = _moment(query, "from") or high - ACTIVITY_DAYS
        if not low < high <= low + MAX_ACTIVITY:
            raise ValidationFailed([{"field": "from", "message": "must be before to, at most 92 days before it"}])
        start, end, floor = format_at(low), format_at(high), format_at(low - STRAGGLERS)
        self._audit.head(tenant.tenant_id, tenant.jurisdiction)  # seals what is pending
        hours: Counter[str] = Counter()
        for event in self._latest.backwards(tenant.tenant_id, tenant.jurisdiction):
            if event["at"] < floor:
                break
            if start <= event["at"] < end:
                hours[event["at"][:13]] += 1
        checkpoints = [{name: checkpoint[name] for name in ("seq", "at", "head_hash", "key_id")}
                       for checkpoint in self._audit.checkpoints(tenant.tenant_id, tenant.jurisdiction)
                       if start <= checkpoint["at"] < end]
        self._audit.commit(tenant.tenant_id, tenant.jurisdiction, caller.draft(
            "audit.read", f"tenants/{tenant.tenant_id}/audit/activity", events=sum(hours.values()),
            format="activity"))
        return {"tenant_id": tenant.tenant_id, "name": tenant.name, "from": start, "to": end,
                "hours": [{"hour": f"{hour}:00:00Z", "events": count} for hour, count in sorted(hours.items())],
                "checkpoints": checkpoints}

    def consent_coverage(self, caller: Caller, tenant_id: str) -> dict[str, Any]:
        """``GET .../consents/coverage``: learners per purpose with consent granted, withdrawn, or none."""
        tenant = self._access.tenant(caller.principal, tenant_id, "consent.coverage")
        policy = self._jurisdictions.get(tenant.jurisdiction)
        counts = self._counts.read(tenant.jurisdiction, tenant.tenant_id) if self._counts else None
        if counts is None:  # a tenant onboarded before the counts (or a restored copy): count the items
            counts = self._full_count(tenant.jurisdiction, tenant.tenant_id, list(policy.consent.purposes))
        live = counts.live
        purposes = []
        for name, purpose in sorted(policy.consent.purposes.items()):
            granted, not_granted = counts.granted.get(name, 0), counts.not_granted.get(name, 0)
            purposes.append({"purpose": name, "requires_consent": purpose.requires_consent,
                             "lawful_basis": purpose.lawful_basis, "granted": granted,
                             "not_granted": not_granted, "no_decision": live - granted - not_granted})
        self._audit.commit(tenant.tenant_id, tenant.jurisdiction, caller.draft(
            "consent.coverage", f"tenants/{tenant.tenant_id}/consents/coverage", learners=live))
        return {"tenant_id": tenant.tenant_id, "name": tenant.name, "jurisdiction": tenant.jurisdiction,
                "as_of": format_at(self._clock()), "learners": live, "purposes": purposes}

    def _full_count(self, jurisdiction: str, tenant_id: str, purposes: list[str]) -> Counts:
        """The counts from every learner's items (what the running counts must always equal)."""
        items = self._data.items_between(jurisdiction, tenant_id, "L#", "L#~", ProjectionExpression=CONSENT_ATTRIBUTES,
                                         ExpressionAttributeNames={"#at": "at"})
        live, decisions = _learners(items)
        granted: Counter[str] = Counter()
        not_granted: Counter[str] = Counter()
        for learner in live:
            for name, record in current_state(decisions.get(learner, [])).items():
                (granted if record.granted else not_granted)[name] += 1
        return Counts(live=len(live), granted={p: granted[p] for p in purposes},
                      not_granted={p: not_granted[p] for p in purposes})


def _learners(items: Iterable[dict[str, Any]]) -> tuple[set[str], dict[str, list[ConsentRecord]]]:
    """The live (not erased) learner ids, and each learner's consent decisions."""
    live: set[str] = set()
    decisions: dict[str, list[ConsentRecord]] = {}
    for item in items:
        parts = item["sk"]["S"].split("#")
        if len(parts) < 3:
            continue
        if parts[2] == "P" and "erased_at" not in item:
            live.add(parts[1])
        elif parts[2] == "C":
            decisions.setdefault(parts[1], []).append(consent_record(item))
    return live, decisions



def _moment(query: Mapping[str, str], name: str) -> datetime | None:
    value = query.get(name)
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationFailed([{"field": name, "message": "must be an ISO-8601 time with its zone"}]) from None
    if moment.tzinfo is None:
        raise ValidationFailed([{"field": name, "message": "must be an ISO-8601 time with its zone"}])
    return moment.astimezone(UTC)
