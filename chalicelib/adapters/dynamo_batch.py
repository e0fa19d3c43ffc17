"""Consistent BatchGetItem over any number of keys, asking again for what DynamoDB leaves unprocessed."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from chalicelib.adapters.dynamo_errors import translated
from chalicelib.domain.errors import Throttled

BATCH_GET = 100  # BatchGetItem's limit of keys per call


def batch_get_all(client: Any, table: str, keys: Sequence[dict[str, Any]], *, what: str,
                  backoff: Callable[[int], None], attempts: int) -> list[dict[str, Any]]:
    """The items of ``keys`` that exist (duplicate keys asked once); keys left unprocessed (throttling,
    the 16 MB answer limit) are asked again after ``backoff``, Throttled (429) when they never are."""
    found: list[dict[str, Any]] = []
    unique = list({(key["pk"]["S"], key["sk"]["S"]): key for key in keys}.values())
    for start in range(0, len(unique), BATCH_GET):
        request: dict[str, Any] = {table: {"Keys": unique[start:start + BATCH_GET], "ConsistentRead": True}}
        for attempt in range(attempts):
            if attempt:
                backoff(attempt)
            with translated(what):
                page = client.batch_get_item(RequestItems=request)
            found += page.get("Responses", {}).get(table, [])
            request = dict(page.get("UnprocessedKeys") or {})
            if not request:
                break
        else:
            raise Throttled(f"{what} is throttled; retry later", retry_after=1)
    return found
