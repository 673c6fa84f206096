"""A Redis cache that degrades to a miss: a dead Redis slows nothing and fails nothing."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

__all__ = ["RedisCache"]

logger = logging.getLogger(__name__)

# Errors that mean Redis cannot be reached: worth a cool-down, unlike a rejected command.
_UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)


class RedisCache:
    """Values in Redis (`redis://`, `rediss://` or `unix://` URL).

    A failed call is logged (at most once per `log_every_s`), counted in `failures` and answered
    as a miss or a no-op. After a connection failure Redis is left alone for `cooldown_s`, so a
    host that drops packets costs one timeout per cool-down rather than one per request; the
    first call after it reconnects by itself.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 0.5,
        cooldown_s: float = 1.0,
        log_every_s: float = 60.0,
    ) -> None:
        self.cooldown_s = cooldown_s
        self.log_every_s = log_every_s
        self.failures = 0  # calls answered without Redis, since this cache was made
        self._client = Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), retries=1),  # one immediate retry replaces a stale socket
        )
        self._down_until = -math.inf
        self._healthy = True
        self._last_log = -math.inf
        self._unlogged = 0

    async def get(self, key: str) -> bytes | None:
        """The value, or None if absent, expired or Redis is unreachable."""
        value: bytes | None = await self._call(lambda: self._client.get(key), None)
        return value

    async def set(self, key: str, value: bytes, ttl_s: float | None = None) -> None:
        """Store a value; does nothing if Redis is unreachable."""
        px = _milliseconds(ttl_s)
        await self._call(lambda: self._client.set(key, value, px=px), None)

    async def add(self, key: str, value: bytes, ttl_s: float | None = None) -> bool:
        """Store only if absent; True if stored, and True when Redis is unreachable.

        `add` claims work for de-duplication. Answering False for a dead Redis would make every
        caller wait for a result that nobody computes; answering True at worst computes it twice.
        """
        px = _milliseconds(ttl_s)
        stored = await self._call(lambda: self._client.set(key, value, px=px, nx=True), True)
        return bool(stored)

    async def delete(self, key: str) -> None:
        """Remove a key; does nothing if Redis is unreachable."""
        await self._call(lambda: self._client.delete(key), None)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    async def _call(self, command: Callable[[], Awaitable[Any]], fallback: Any) -> Any:
        if time.monotonic() < self._down_until:
            self._count_failure(None)
            return fallback
        try:
            result = await command()
        except (RedisError, OSError) as exc:
            if isinstance(exc, _UNREACHABLE):
                self._down_until = time.monotonic() + self.cooldown_s
            self._count_failure(exc)
            return fallback
        if not self._healthy:
            self._healthy = True
            logger.info("Redis cache is reachable again after %d failed calls", self.failures)
        return result

    def _count_failure(self, exc: Exception | None) -> None:
        self.failures += 1
        self._unlogged += 1
        self._healthy = False
        now = time.monotonic()
        if exc is not None and now - self._last_log >= self.log_every_s:
            logger.warning(
                "Redis cache unavailable, serving misses (%d failed calls since last report): %r",
                self._unlogged,
                exc,
            )
            self._last_log = now
            self._unlogged = 0


def _milliseconds(ttl_s: float | None) -> int | None:
    if ttl_s is None:
        return None
    if ttl_s <= 0:
        raise ValueError(f"ttl_s must be positive, got {ttl_s}")
    return max(1, round(ttl_s * 1000))
