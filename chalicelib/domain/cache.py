"""A bounded, TTL'd, thread-safe LRU cache (tenant keys, verified tokens, directory entries)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

# ---------------------------------------------------------------------------------------------------
# Bounded TTL cache

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


SWEEP_SECONDS = 1.0

REVOCATION_SECONDS = 30.0
"""How long a process trusts a tenant's directory entry and wrapped key records it read: an offboarding
elsewhere reaches every warm container within this (docs/key-lifecycle.md)."""


class TtlCache(Generic[K, V]):
    """Thread-safe LRU cache with at most ``max_entries`` entries, each living ``ttl_seconds``.

    The TTL counts from insertion, not from the last use, so a plaintext key never outlives it: ``get``
    never answers an expired entry, and ``put`` drops every expired one at most ``SWEEP_SECONDS`` after
    its deadline (a sweep of the whole cache at most once per ``SWEEP_SECONDS``, so a put is O(1)
    amortised: a sweep on every put made a full 10,000-entry cache cost a scan per request).
    ``clock`` (monotonic seconds) is injectable for tests.
    """

    def __init__(self, max_entries: int, ttl_seconds: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if max_entries < 1 or ttl_seconds <= 0:
            raise ValueError("max_entries must be >= 1 and ttl_seconds > 0")
        self.max_entries = max_entries
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()
        self._next_sweep = float("-inf")
        self.hits = 0
        self.misses = 0

    def get(self, key: K) -> V | None:
        """The live value of ``key`` (now the most recently used), or ``None``."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] > self._clock():
                self._entries.move_to_end(key)
                self.hits += 1
                return entry[1]
            if entry is not None:
                del self._entries[key]
            self.misses += 1
            return None

    def put(self, key: K, value: V) -> None:
        """Store ``value``; evicts expired entries, then the least recently used beyond the bound."""
        with self._lock:
            now = self._clock()
            self._entries[key] = (now + self.ttl_seconds, value)
            self._entries.move_to_end(key)
            if now >= self._next_sweep:
                self._next_sweep = now + min(self.ttl_seconds, SWEEP_SECONDS)
                expired = [k for k, (deadline, _) in self._entries.items() if deadline <= now]
                for k in expired:
                    del self._entries[k]
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def get_or_create(self, key: K, create: Callable[[], V]) -> V:
        """The cached value, or ``create()`` stored. ``create`` runs outside the lock (it may do I/O)."""
        value = self.get(key)
        if value is None:
            value = create()
            self.put(key, value)
        return value

    def discard(self, key: K) -> bool:
        """Remove ``key``'s entry, if any (no scan of the cache); whether there was one."""
        with self._lock:
            return self._entries.pop(key, None) is not None

    def discard_if(self, predicate: Callable[[K], bool]) -> int:
        """Remove every entry whose key matches; returns how many were removed."""
        with self._lock:
            doomed = [k for k in self._entries if predicate(k)]
            for k in doomed:
                del self._entries[k]
            return len(doomed)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        """Number of live (unexpired) entries."""
        with self._lock:
            now = self._clock()
            return sum(1 for deadline, _ in self._entries.values() if deadline > now)

    def __repr__(self) -> str:
        return f"TtlCache(entries={len(self)}, max_entries={self.max_entries}, ttl={self.ttl_seconds}s)"


