"""Selecting audit events by time although ``at`` is not in ``seq`` order.

An event is stamped (``at``) by the container that served the request, then chained by the sealer in
landing order: concurrent containers, retries and stragglers put ``at`` out of ``seq`` order. So the
time index does not key a sealed event by its own ``at`` but by the chain's *high-water mark* at it,
``high(seq) = max(at of seq 1..seq)``, suffixed with ``seq``: a key that only grows along the chain.

- The first event with ``at >= from`` is the first whose high-water mark reaches ``from`` (exact).
- The last event with ``at < to``: an event's ``at`` is at most ``STAMP_LAG`` below the mark it was
  chained under, so it lies among the events whose mark is below ``to + STAMP_LAG``. The sealer
  enforces that bound: an event stamped further back is chained as always and also recorded in the
  late-event index (``late_key``), which a range reads too. No assumption about clocks is needed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from chalicelib.domain.audit import format_at

STAMP_LAG = timedelta(seconds=5)
"""How far below the chain's high-water mark an event may be stamped and still be found through the
time index alone; one stamped further back is indexed as late. A request stamps its event just before
landing it and the stream seals within about a second, so this is rare. Raise it freely; lowering it
would leave events chained under the larger bound unfound (they are not in the late index)."""
LATE_PREFIX = "LAT#"
_AFTER_ALL = "~"  # sorts after every time


@dataclass(frozen=True)
class Indexed:
    """Where the sealer files one event: its time-index key and whether it is late."""

    seq: int
    at: str
    key: str
    late: bool


def index_key(high_water: str, seq: int) -> str:
    """The time-index key of the event at ``seq`` chained under ``high_water``: grows with ``seq``."""
    return f"{high_water}#{seq:012d}"


def late_key(at: str, seq: int) -> str:
    """The late-event index key: by the event's own time, then ``seq``."""
    return f"{LATE_PREFIX}{at}#{seq:012d}"


def seq_of_key(key: str) -> int:
    """The ``seq`` a time-index or late-index key ends with."""
    return int(key.rsplit("#", 1)[1])


def file_events(high_water: str, events: Iterable[dict[str, Any]]) -> tuple[list[Indexed], str]:
    """The index entries of ``events`` (in ``seq`` order) chained after ``high_water``; the new mark."""
    filed: list[Indexed] = []
    for event in events:
        at = str(event["at"])
        late = bool(high_water) and at < shifted(high_water, -STAMP_LAG)
        high_water = max(high_water, at)
        filed.append(Indexed(int(event["seq"]), at, index_key(high_water, int(event["seq"])), late))
    return filed, high_water


def shifted(at: str, delta: timedelta) -> str:
    """``at`` moved by ``delta``; past the calendar's ends, a bound before or after every time."""
    try:
        moment = datetime.fromisoformat(at.replace("Z", "+00:00"))
        return format_at(moment + delta)
    except (ValueError, OverflowError):
        return _AFTER_ALL if delta > timedelta(0) else ""


def in_range(event: dict[str, Any], start: str, end: str | None) -> bool:
    """``start <= at < end`` (``end`` None: no upper bound)."""
    at = str(event["at"])
    return start <= at and (end is None or at < end)


def within(events: Iterable[dict[str, Any]], start: str, end: str | None) -> Iterator[dict[str, Any]]:
    """The events of ``events`` whose ``at`` is in ``[start, end)``."""
    return (event for event in events if in_range(event, start, end))
