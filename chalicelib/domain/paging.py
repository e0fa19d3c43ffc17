"""Opaque page cursors and page sizes for the list routes (the console pages through tenants and learners).

A cursor is the base64url form of the last key a page returned; callers treat it as opaque. It
never carries personal values: only tenant or learner ids.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass

from chalicelib.domain.errors import BadRequest

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


@dataclass(frozen=True)
class PageRequest:
    after: str | None
    limit: int


def encode_cursor(last_key: str) -> str:
    return base64.urlsafe_b64encode(last_key.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadRequest("cursor is not one this API returned") from None
    if not raw or len(raw) > 128 or not raw.isascii() or not raw.replace("_", "").replace("-", "").isalnum():
        raise BadRequest("cursor is not one this API returned")
    return raw


def page_request(query: Mapping[str, str]) -> PageRequest:
    """``cursor`` and ``limit`` (1..200, default 50) of a list route's query string."""
    limit_text = query.get("limit")
    limit = DEFAULT_LIMIT
    if limit_text is not None:
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_LIMIT:
            raise BadRequest(f"limit must be a whole number from 1 to {MAX_LIMIT}")
        limit = int(limit_text)
    cursor = query.get("cursor")
    return PageRequest(decode_cursor(cursor) if cursor else None, limit)


def page(items: list[dict[str, object]], last_key: str | None) -> dict[str, object]:
    """The list routes' shape: ``{"items": [...], "next_cursor": str | null}``."""
    return {"items": items, "next_cursor": encode_cursor(last_key) if last_key else None}
