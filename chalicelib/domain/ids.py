"""Opaque, unguessable identifiers: 128 random bits, a type prefix, validated before use."""

from __future__ import annotations

import base64
import re
import secrets

from chalicelib.domain.errors import NotFound

_BODY = r"[a-z2-7]{26}"
PREFIXES = ("tnt", "lrn", "res", "req", "hld", "inc", "exp", "evt", "cns", "off", "whk", "imp")
_PATTERN = re.compile(rf"^({'|'.join(PREFIXES)})_{_BODY}$")


def new_id(prefix: str) -> str:
    """A fresh id such as ``tnt_…`` (26 base32 characters of 16 random bytes)."""
    if prefix not in PREFIXES:
        raise ValueError(f"unknown id prefix {prefix}")
    body = base64.b32encode(secrets.token_bytes(16)).decode().rstrip("=").lower()
    return f"{prefix}_{body}"


def is_valid_id(value: str, prefix: str) -> bool:
    match = _PATTERN.match(value)
    return bool(match and match.group(1) == prefix)


def require_id(value: str, prefix: str, what: str) -> str:
    """The id itself, or NotFound: a malformed id names nothing that exists."""
    if not is_valid_id(value, prefix):
        raise NotFound(f"no such {what}")
    return value
