"""A shared key-value cache (results, de-duplication, service state; never a source of truth),
and notices between processes."""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager
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

    async def ping(self) -> None:
        """Raise BackendUnavailable unless the cache answers (for readiness; other calls fail
        open, so only this one tells that the cache is down)."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


class Notifier(Protocol):
    """Wakes those waiting on a key, in every process that shares the notifier.

    Best effort: a lost notice only delays a waiter until it looks again by itself.
    """

    @property
    def listening(self) -> bool:
        """Whether notices can reach this process now (False while Redis is unreachable)."""
        ...

    async def notify(self, key: str) -> None:
        """Wake every listener of `key`. Never raises."""
        ...

    def listen(self, key: str) -> AbstractAsyncContextManager[asyncio.Event]:
        """An event set at each notice for `key` while the block runs (clear it to rearm)."""
        ...

    async def aclose(self) -> None:
        """Stop listening and release connections."""
        ...
