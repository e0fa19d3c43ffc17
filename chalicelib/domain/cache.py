"""A bounded, TTL'd, thread-safe cache (re-exported from ``crypto``, where keys first needed it)."""

from chalicelib.domain.crypto import TtlCache

__all__ = ["TtlCache"]
