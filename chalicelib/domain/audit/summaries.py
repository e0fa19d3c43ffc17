"""What the sealer keeps about a tenant's chain so that the console's summaries do not read the chain.

Each seal transaction (``adapters/audit_store.py``) also records, from the events it chains:
- on the chain's ``HEAD``: the newest successful verification (``audit.verify``) and export (``audit.export``,
  or ``audit.read`` of a whole range as NDJSON or CSV, the console's download) as the audit status shows
  them, and ``summaries_from``, the first ``seq`` they were kept for (1 for a trail begun with them);
- events per UTC hour: one item a day (``ACT#<day>``, a number attribute ``h<HH>`` an hour) in one of
  ``COUNT_SHARDS`` partitions picked by the transaction's first ``seq``, so no item takes every seal.

Both are written in the transaction that chains the events, which is conditional on the head: a batch
sealed twice (a redelivered stream batch, two sealers racing) commits once, so every event is counted
exactly once. Events chained before ``summaries_from`` are read from the chain as before.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

COUNT_SHARDS = 4
MAX_DAYS = 2
"""Day items one seal transaction may add: the other items of a batch leave room for this many."""
WHOLE_RANGE_FORMATS = ("ndjson", "csv")
VERIFICATION, EXPORT = "verification", "export"


def status_kind(event: Mapping[str, Any]) -> str | None:
    """Which audit-status pointer ``event`` moves (None: neither)."""
    if event.get("outcome") != "success":
        return None
    if event["action"] == "audit.verify":
        return VERIFICATION
    details = event.get("details") or {}
    whole_read = event["action"] == "audit.read" and details.get("format") in WHOLE_RANGE_FORMATS
    return EXPORT if event["action"] == "audit.export" or whole_read else None


def status_entry(kind: str, event: Mapping[str, Any]) -> dict[str, Any]:
    """The audit status's ``last_verification`` or ``last_export`` for ``event``."""
    details = event.get("details") or {}
    if kind == VERIFICATION:
        return {"at": event["at"], "seq": event["seq"], "valid": bool(details.get("valid")),
                "events": details.get("events"), "by_role": event["actor"]["role"]}
    return {"at": event["at"], "seq": event["seq"], "by_role": event["actor"]["role"],
            "kind": "bucket" if event["action"] == "audit.export" else "download",
            "format": details.get("format", "ndjson"), "events": details.get("events")}


def newest_entries(events: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """kind -> the status entry of the newest (highest ``seq``) event of that kind among ``events``."""
    found: dict[str, dict[str, Any]] = {}
    for event in sorted(events, key=lambda e: int(e["seq"])):
        kind = status_kind(event)
        if kind is not None:
            found[kind] = status_entry(kind, event)
    return found


def hour_counts(events: Iterable[Mapping[str, Any]]) -> dict[str, Counter[str]]:
    """day (``YYYY-MM-DD``) -> hour (``HH``) -> how many of ``events`` are stamped in it (UTC)."""
    days: dict[str, Counter[str]] = {}
    for event in events:
        at = str(event["at"])
        days.setdefault(at[:10], Counter())[at[11:13]] += 1
    return days


def count_shard(first_seq: int) -> int:
    return first_seq % COUNT_SHARDS


def within_days(batch: Sequence[Mapping[str, Any]], days: int = MAX_DAYS) -> int:
    """How many events from the start of ``batch`` are stamped in at most ``days`` distinct UTC days
    (at least one)."""
    seen: set[str] = set()
    for index, event in enumerate(batch):
        seen.add(str(event["at"])[:10])
        if len(seen) > days:
            return max(index, 1)
    return len(batch)
