"""A Redis cache that degrades to a miss: a dead Redis slows nothing and fails nothing."""

from __future__ import annotations

import logging

from ..redis_breaker import RedisBreaker

__all__ = ["RedisCache"]

log = logging.getLogger(__name__)


class RedisCache:
    """Values in Redis (`redis://`, `rediss://` or `unix://` URL).

    A failed call is answered as a miss or a no-op, logged and counted in `failures`; after a
    connection failure Redis is left alone for `cooldown_s` (`breaker`: `RedisBreaker`'s
    `cooldown_s` and `log_every_s`).
    """

    def __init__(self, url: str, *, timeout_s: float = 0.5, **breaker: float) -> None:
        self._redis = RedisBreaker(url, role="Redis cache", log=log, timeout_s=timeout_s, **breaker)
        self._client = self._redis.client

    @property
    def failures(self) -> int:
        """Calls answered without Redis, since this cache was made."""
        return self._redis.failures

    async def get(self, key: str) -> bytes | None:
        """The value, or None if absent, expired or Redis is unreachable."""
        value: bytes | None = await self._redis.call(lambda: self._client.get(key), None)
        return value

    async def set(self, key: str, value: bytes, ttl_s: float | None = None) -> None:
        """Store a value; does nothing if Redis is unreachable."""
        px = _milliseconds(ttl_s)
        await self._redis.call(lambda: self._client.set(key, value, px=px), None)

    async def add(self, key: str, value: bytes, ttl_s: float | None = None) -> bool:
        """Store only if absent; True if stored, and True when Redis is unreachable.

        `add` claims work for de-duplication. Answering False for a dead Redis would make every
        caller wait for a result that nobody computes; answering True at worst computes it twice.
        """
        px = _milliseconds(ttl_s)
        stored = await self._redis.call(lambda: self._client.set(key, value, px=px, nx=True), True)
        return bool(stored)

    async def delete(self, key: str) -> None:
        """Remove a key; does nothing if Redis is unreachable."""
        await self._redis.call(lambda: self._client.delete(key), None)

    async def ping(self) -> None:
        """Raise BackendUnavailable unless Redis answers."""
        await self._redis.ping()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._redis.aclose()


def _milliseconds(ttl_s: float | None) -> int | None:
    if ttl_s is None:
        return None
    if ttl_s <= 0:
        raise ValueError(f"ttl_s must be positive, got {ttl_s}")
    return max(1, round(ttl_s * 1000))
