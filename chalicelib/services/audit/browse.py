"""The console's view of an audit trail: events filtered by time, action, actor and outcome, paged by seq.

The NDJSON/CSV routes and exports stay whole ranges (a filtered file could not be verified); this
JSON view is for reading. Each page is itself recorded as ``audit.read`` with the filters used
(identifiers and enumerated values only). With an action, a page reads only the blocks of the chain the
action index lists (``adapters/audit_action_index.py``), from the ``seq`` the summaries began at (a trail
sealed before them is read whole below it); ``MAX_SCANNED`` bounds the events a page reads either way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from chalicelib.adapters.audit_action_index import block_of, block_seqs
from chalicelib.adapters.audit_store import AuditStore
from chalicelib.adapters.audit_summaries import AuditSummaries
from chalicelib.domain.audit import format_at
from chalicelib.domain.audit.layout import EVENT_SHARDS
from chalicelib.domain.audit.time_range import in_range
from chalicelib.domain.errors import BadRequest, ValidationFailed
from chalicelib.domain.paging import page, page_request
from chalicelib.services.access import AccessControl
from chalicelib.services.context import Caller

FILTERS = ("action", "actor", "outcome")
MAX_SCANNED = 5000  # events read per page at most; a page may come back short with a cursor to go on


class AuditBrowser:
    def __init__(self, access: AccessControl, store: AuditStore, clock: Callable[[], datetime],
                 summaries: AuditSummaries | None = None) -> None:
        self._access = access
        self._store = store
        self._clock = clock
        self._summaries = summaries

    def events(self, caller: Caller, tenant_id: str, query: Mapping[str, str]) -> dict[str, object]:
        tenant = self._access.tenant(caller.principal, tenant_id, "audit.read")
        request = page_request(query)
        wanted = _filters(query)
        after = _seq_cursor(request.after)
        low, high = _time(query, "from"), _time(query, "to")
        seqs = self._store.seq_range(tenant.tenant_id, tenant.jurisdiction, low, high)
        items: list[dict[str, Any]] = []
        last: str | None = None
        if seqs is not None and max(seqs[0], after + 1) <= seqs[1]:
            first, scanned = max(seqs[0], after + 1), 0
            runs = self._runs(tenant.tenant_id, tenant.jurisdiction, wanted, first, seqs[1])
            for run_low, run_high in (window for run in runs for window in windows(*run)):
                for event in self._store.events(tenant.tenant_id, tenant.jurisdiction, run_low, run_high):
                    scanned += 1
                    if in_range(event, low or "", high) and _matches(event, wanted):
                        items.append(event)
                    if event["seq"] < seqs[1] and (len(items) == request.limit or scanned >= MAX_SCANNED):
                        last = f"s{event['seq']}"
                        break
                if last is not None:
                    break
        self._store.commit(tenant.tenant_id, tenant.jurisdiction, caller.draft(
            "audit.read", f"tenants/{tenant.tenant_id}/audit", events=len(items), format="json",
            filters=sorted(wanted)))
        return page(items, last)

    def _runs(self, tenant_id: str, jurisdiction: str, wanted: Mapping[str, str], first: int,
              last: int) -> Iterator[tuple[int, int]]:
        """The runs of ``seq`` in ``first``..``last`` that may hold matching events: with an action, the
        blocks the action index lists (from the ``seq`` it began at; the part before it, whole)."""
        action = wanted.get("action")
        indexed_from = None
        if action and "#" not in action and self._summaries is not None:
            indexed_from = self._summaries.head(tenant_id, jurisdiction).summaries_from
        if action is None or indexed_from is None:
            yield first, last
            return
        if first < indexed_from:
            yield first, min(last, indexed_from - 1)
        start = max(first, indexed_from)
        table = self._store.table(jurisdiction)
        for block in self._store.actions.blocks(table, tenant_id, action, block_of(start)):
            low, high = block_seqs(block)
            if low > last:
                return
            if max(low, start) <= min(high, last):
                yield max(low, start), min(high, last)


def windows(low: int, high: int) -> Iterator[tuple[int, int]]:
    """``low``..``high`` in runs of whole blocks of the chain, 1, 2, 4... up to one per event shard: a page
    that fills early reads one Query, not the first page of every shard the run spans; a sparse filter soon
    reads the shards side by side."""
    size = 1
    while low <= high:
        end = min(high, block_seqs(block_of(low) + size - 1)[1])
        yield low, end
        low, size = end + 1, min(size * 2, EVENT_SHARDS)


def _filters(query: Mapping[str, str]) -> dict[str, str]:
    wanted = {name: query[name] for name in FILTERS if query.get(name)}
    if any(len(value) > 128 for value in wanted.values()):
        raise BadRequest("filters are at most 128 characters")
    return wanted


def _matches(event: dict[str, Any], wanted: dict[str, str]) -> bool:
    if "action" in wanted and event["action"] != wanted["action"]:
        return False
    if "outcome" in wanted and event["outcome"] != wanted["outcome"]:
        return False
    actor = event["actor"]
    return "actor" not in wanted or wanted["actor"] in (actor["sub"], actor["role"])


def _seq_cursor(after: str | None) -> int:
    if after is None:
        return 0
    if not after.startswith("s") or not after[1:].isdigit():
        raise BadRequest("cursor is not one this API returned")
    return int(after[1:])


def _time(query: Mapping[str, str], name: str) -> str | None:
    value = query.get(name)
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationFailed([{"field": name, "message": "must be an ISO-8601 UTC time"}]) from None
    return format_at((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC))
