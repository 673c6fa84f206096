"""An in-process LRU cache with per-key TTL: the embedded cache for one process."""

from __future__ import annotations

import time
from collections import OrderedDict

__all__ = ["MemoryCache"]


class MemoryCache:
    """At most `max_entries` values, least recently used evicted first; expired ones read as absent.

    No method awaits, so tasks on one event loop never see each other's half-done changes.
    """

    def __init__(self, max_entries: int = 10000) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[bytes, float | None]] = OrderedDict()

    async def get(self, key: str) -> bytes | None:
        """The value, or None if absent or expired."""
        return self._lookup(key)

    async def set(self, key: str, value: bytes, ttl_s: float | None = None) -> None:
        """Store a value, evicting the least recently used one when full."""
        self._store(key, value, ttl_s)

    async def add(self, key: str, value: bytes, ttl_s: float | None = None) -> bool:
        """Store only if absent (or expired); True if stored."""
        if self._lookup(key) is not None:
            return False
        self._store(key, value, ttl_s)
        return True

    async def delete(self, key: str) -> None:
        """Remove a key."""
        self._entries.pop(key, None)

    async def ping(self) -> None:
        """Always answers: the values live in this process."""

    async def aclose(self) -> None:
        """Drop every entry."""
        self._entries.clear()

    def _lookup(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        value, expires_at = entry
        if expires_at is not None and time.monotonic() >= expires_at:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    def _store(self, key: str, value: bytes, ttl_s: float | None) -> None:
        self._entries[key] = (value, _deadline(ttl_s))
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)


def _deadline(ttl_s: float | None) -> float | None:
    if ttl_s is None:
        return None
    if ttl_s <= 0:
        raise ValueError(f"ttl_s must be positive, got {ttl_s}")
    return time.monotonic() + ttl_s
