"""A shared key-value cache: results, de-duplication and service state. Never a source of truth."""

from __future__ import annotations

from typing import Protocol


class Cache(Protocol):
    """Bytes under string keys with an optional time to live.

    Implementations never raise for a cache failure: they log, count, and behave as a miss.
    """

    async def get(self, key: str) -> bytes | None:
        """The value, or None if absent, expired or the cache is unreachable."""
        ...

    async def set(self, key: str, value: bytes, ttl_s: float | None = None) -> None:
        """Store a value."""
        ...

    async def add(self, key: str, value: bytes, ttl_s: float | None = None) -> bool:
        """Store only if absent; True if stored (used to claim work for de-duplication)."""
        ...

    async def delete(self, key: str) -> None:
        """Remove a key."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
