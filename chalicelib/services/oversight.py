"""What a compliance officer's home page summarises per tenant, without reading the trail.

* ``audit_status``: the chain's head and its last verification and last export: pointers the seal
  transaction keeps on the head from the chain's own ``audit.verify`` / ``audit.export`` events (and
  ``audit.read`` of a whole NDJSON or CSV range, the console's download), read in one GetItem
  (``domain/audit/summaries.py``); a trail begun before them is read newest first below the first
  ``seq`` they cover, for a kind they do not hold. Recorded as ``audit.status``.
* ``activity``: events per hour of a time range (30 days by default, at most 92) and the signed
  checkpoints in it, for the console's picture of the chain; from the hour counts the seal transaction
  keeps (one BatchGetItem), with the partial hours at an explicit bound counted from the events and the
  events before the counts began read backwards. Recorded as ``audit.read`` with ``format: "activity"``
  (not a download: the audit status does not count it as one).
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
from chalicelib.adapters.audit_summaries import AuditSummaries, HeadSummary
from chalicelib.adapters.consent_counts import ConsentCounts, Counts
from chalicelib.adapters.data_store import DataStore
from chalicelib.domain.audit import format_at
from chalicelib.domain.audit.summaries import EXPORT, VERIFICATION, status_entry, status_kind
from chalicelib.domain.catalog import JurisdictionCatalog
from chalicelib.domain.consents import ConsentRecord, current_state
from chalicelib.domain.errors import ValidationFailed
from chalicelib.services.access import AccessControl
from chalicelib.services.consents import _record as consent_record
from chalicelib.services.context import Caller

ACTIVITY_DAYS = timedelta(days=30)
MAX_ACTIVITY = timedelta(days=92)
HOUR = timedelta(hours=1)
STRAGGLERS = timedelta(minutes=10)  # an event may be stamped a little before the one sealed ahead of it
CONSENT_ATTRIBUTES = "sk, erased_at, record_id, purpose, decision, given_by, verification, lawful_basis, " \
                     "policy_version, #at"


class Oversight:
    def __init__(self, access: AccessControl, audit: AuditStore, latest: AuditLatest, data: DataStore,
                 jurisdictions: JurisdictionCatalog, clock: Callable[[], datetime],
                 counts: ConsentCounts | None = None, summaries: AuditSummaries | None = None) -> None:
        self._counts = counts
        self._access = access
        self._audit = audit
        self._latest = latest
        self._summaries = summaries
        self._data = data
        self._jurisdictions = jurisdictions
        self._clock = clock

    def audit_status(self, caller: Caller, tenant_id: str) -> dict[str, Any]:
        """``GET .../audit/status``: head, last verification, last export (each null when never done)."""
        tenant = self._access.tenant(caller.principal, tenant_id, "audit.read")
        head_seq, head_hash = self._audit.head(tenant.tenant_id, tenant.jurisdiction)  # seals what is pending
        entries = self._status_entries(tenant.tenant_id, tenant.jurisdiction) if head_seq else {}
        self._audit.commit(tenant.tenant_id, tenant.jurisdiction, caller.draft(
            "audit.status", f"tenants/{tenant.tenant_id}/audit/status", head_seq=head_seq))
        return {"tenant_id": tenant.tenant_id, "name": tenant.name, "jurisdiction": tenant.jurisdiction,
                "events": head_seq, "head_hash": head_hash if head_seq else None, "as_of": format_at(self._clock()),
                "last_verification": entries.get(VERIFICATION), "last_export": entries.get(EXPORT)}

    def _status_entries(self, tenant_id: str, jurisdiction: str) -> dict[str, dict[str, Any]]:
        """kind -> the status entry: the head's pointers, and for a kind they do not hold on a trail sealed
        before them, the newest such event below the first ``seq`` they cover."""
        head = self._summaries.head(tenant_id, jurisdiction) if self._summaries else HeadSummary(0, None)
        entries = dict(head.entries)
        if head.summaries_from == 1 or len(entries) == 2:
            return entries
        top = None if head.summaries_from is None else head.summaries_from - 1
        older = self._latest.newest(tenant_id, jurisdiction, 2 - len(entries),
                                    lambda event: _missing_kind(event, entries), top)
        return {**{kind: status_entry(kind, event) for kind, event in older.items()}, **entries}

    def activity(self, caller: Caller, tenant_id: str, query: Mapping[str, str]) -> dict[str, Any]:
        """``GET .../audit/activity``: events per hour (UTC) of ``[from, to)`` and the checkpoints signed in it."""
        tenant = self._access.tenant(caller.principal, tenant_id, "audit.read")
        explicit_end = _moment(query, "to")
        high = explicit_end or self._clock()
        low = _moment(query, "from") or high - ACTIVITY_DAYS
        if not low < high <= low + MAX_ACTIVITY:
            raise ValidationFailed([{"field": "from", "message": "must be before to, at most 92 days before it"}])
        start, end = format_at(low), format_at(high)
        self._audit.head(tenant.tenant_id, tenant.jurisdiction)  # seals what is pending
        hours = self._hours(tenant.tenant_id, tenant.jurisdiction, low, high, exact_end=explicit_end is not None)
        checkpoints = [{name: checkpoint[name] for name in ("seq", "at", "head_hash", "key_id")}
                       for checkpoint in self._audit.checkpoints(tenant.tenant_id, tenant.jurisdiction)
                       if start <= checkpoint["at"] < end]
        self._audit.commit(tenant.tenant_id, tenant.jurisdiction, caller.draft(
            "audit.read", f"tenants/{tenant.tenant_id}/audit/activity", events=sum(hours.values()),
            format="activity"))
        return {"tenant_id": tenant.tenant_id, "name": tenant.name, "from": start, "to": end,
                "hours": [{"hour": f"{hour}:00:00Z", "events": n} for hour, n in sorted(hours.items()) if n],
                "checkpoints": checkpoints}

    def _hours(self, tenant_id: str, jurisdiction: str, low: datetime, high: datetime,
               exact_end: bool) -> Counter[str]:
        """``YYYY-MM-DDTHH`` -> events stamped in that hour within ``[low, high)``. Whole hours come from the
        counts; the part of an hour cut by ``low`` (or by an explicit ``high``: without one, ``high`` is now
        and nothing is stamped after it) is counted from its events, unless the counts say its hour has none."""
        whole_low = _ceil_hour(low)
        whole_high = _ceil_hour(high) if not exact_end else _floor_hour(high)
        head = self._summaries.head(tenant_id, jurisdiction) if self._summaries else HeadSummary(0, None)
        counted: Counter[str] = Counter()
        if self._summaries is not None and head.summaries_from is not None:
            days = [format_at(_floor_hour(low) + timedelta(days=n))[:10] for n in range((high - low).days + 2)]
            counted = self._summaries.hours(tenant_id, jurisdiction, days)
        whole_start, whole_end = format_at(whole_low), format_at(whole_high)
        hours: Counter[str] = Counter({hour: n for hour, n in counted.items()
                                       if whole_start[:13] <= hour < whole_end[:13]} if whole_low < whole_high else {})
        parts = ((low, whole_low), (whole_high, high)) if whole_low < whole_high else ((low, high),)
        for part_low, part_high in parts:  # each within one hour, or two when no whole hour is in the range
            touched = (format_at(part_low)[:13], format_at(part_high - timedelta(microseconds=1))[:13])
            hours_empty = head.summaries_from == 1 and not any(counted[hour] for hour in touched)
            if part_low < part_high and not hours_empty:
                self._count_events(tenant_id, jurisdiction, format_at(part_low), format_at(part_high), hours)
        if head.summaries_from != 1 and whole_low < whole_high:  # events sealed before the counts began
            top = None if head.summaries_from is None else head.summaries_from - 1
            floor = format_at(whole_low - STRAGGLERS)
            for event in self._latest.backwards(tenant_id, jurisdiction, top):
                if event["at"] < floor:
                    break
                if whole_start <= event["at"] < whole_end:
                    hours[event["at"][:13]] += 1
        return hours

    def _count_events(self, tenant_id: str, jurisdiction: str, start: str, end: str, hours: Counter[str]) -> None:
        """Add the events stamped in ``[start, end)`` (found through the time index) to ``hours``."""
        seqs = self._audit.seq_range(tenant_id, jurisdiction, start, end, seal=False)  # sealed by ``activity``
        if seqs is None:
            return
        for event in self._audit.events(tenant_id, jurisdiction, seqs[0], seqs[1]):
            if start <= event["at"] < end:
                hours[event["at"][:13]] += 1

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



def _missing_kind(event: dict[str, Any], have: Mapping[str, object]) -> str | None:
    kind = status_kind(event)
    return None if kind in have else kind


def _floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _ceil_hour(moment: datetime) -> datetime:
    floor = _floor_hour(moment)
    return floor if floor == moment else floor + HOUR


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
