"""Consistent BatchGetItem over any number of keys, asking again for what DynamoDB leaves unprocessed.

Every batched read of the adapters goes through ``batch_get``: keys are sent 100 a call (BatchGetItem's
limit, across tables), duplicates once, and keys DynamoDB leaves unprocessed (throttling, the 16 MB answer
limit) are asked again after a backoff, a bounded number of times: Throttled (429) when they never are.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from chalicelib.adapters.dynamo_errors import translated
from chalicelib.domain.errors import Throttled

BATCH_GET = 100  # BatchGetItem's limit of keys per call
ATTEMPTS = 6


def jittered_backoff(attempt: int) -> None:
    """Full jitter, 25 ms doubling to at most 1 s: what AWS advises for unprocessed keys."""
    time.sleep(random.uniform(0, min(1.0, 0.025 * 2 ** attempt)))  # noqa: S311 - jitter, not a secret


def batch_get(client: Any, wanted: Iterable[tuple[str, dict[str, Any]]], *, what: str,
              projection: str | None = None, backoff: Callable[[int], None] = jittered_backoff,
              attempts: int = ATTEMPTS) -> dict[str, list[dict[str, Any]]]:
    """The items that exist of ``wanted`` ``(table, key)`` pairs, by table; keys sent in the order given,
    ``BATCH_GET`` a call (so pairs given together share a call)."""
    unique = list({(table, key["pk"]["S"], key["sk"]["S"]): (table, key) for table, key in wanted}.values())
    found: dict[str, list[dict[str, Any]]] = {}
    for start in range(0, len(unique), BATCH_GET):
        request: dict[str, Any] = {}
        for table, key in unique[start:start + BATCH_GET]:
            asked = request.setdefault(table, {"Keys": [], "ConsistentRead": True})
            if projection is not None:
                asked["ProjectionExpression"] = projection
            asked["Keys"].append(key)
        for attempt in range(attempts):
            if attempt:
                backoff(attempt)
            with translated(what):
                page = client.batch_get_item(RequestItems=request)
            for table, items in page.get("Responses", {}).items():
                found.setdefault(table, []).extend(items)
            request = dict(page.get("UnprocessedKeys") or {})
            if not request:
                break
        else:
            raise Throttled(f"{what} is throttled; retry later", retry_after=1)
    return found


def batch_get_all(client: Any, table: str, keys: Sequence[dict[str, Any]], *, what: str,
                  backoff: Callable[[int], None], attempts: int) -> list[dict[str, Any]]:
    """The items of ``keys`` in one table that exist (see ``batch_get``)."""
    return batch_get(client, ((table, key) for key in keys), what=what, backoff=backoff,
                     attempts=attempts).get(table, [])
