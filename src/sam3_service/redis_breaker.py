"""A Redis client that fails open: the cache and the rate limiter share it.

A failed command is logged (at most once per `log_every_s`), counted in `failures` and answered
with the caller's fallback. After a connection failure Redis is left alone for `cooldown_s`, so a
host that drops packets costs one timeout per cool-down rather than one per call; the first call
after it reconnects by itself.
"""

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

from .errors import BackendUnavailable

__all__ = ["RedisBreaker"]

# Errors that mean Redis cannot be reached: worth a cool-down, unlike a rejected command.
_UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)


class RedisBreaker:
    """`client` (from a `redis://`, `rediss://` or `unix://` URL) behind a fail-open `call`.

    `role` names the user in the log lines ("Redis cache", "rate limiter"), logged to `log`
    (the user's logger).
    """

    def __init__(
        self,
        url: str,
        *,
        role: str,
        log: logging.Logger,
        timeout_s: float,
        cooldown_s: float = 1.0,
        log_every_s: float = 60.0,
    ) -> None:
        self.role = role
        self.log = log
        self.cooldown_s = cooldown_s
        self.log_every_s = log_every_s
        self.failures = 0  # calls answered without Redis, since this breaker was made
        self.client = Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), retries=1),  # one immediate retry replaces a stale socket
        )
        self._down_until = -math.inf
        self._healthy = True
        self._last_log = -math.inf
        self._unlogged = 0

    async def call(self, command: Callable[[], Awaitable[Any]], fallback: Any) -> Any:
        """`await command()`, or `fallback` when Redis fails or cools down."""
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
            self.log.info(
                "%s: Redis is reachable again after %d failed calls", self.role, self.failures
            )
        return result

    async def ping(self) -> None:
        """Raise BackendUnavailable unless Redis answers (at once while it cools down)."""
        if not await self.call(self.client.ping, False):
            raise BackendUnavailable(f"{self.role}: Redis is unreachable")

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.client.aclose()

    def _count_failure(self, exc: Exception | None) -> None:
        self.failures += 1
        self._unlogged += 1
        self._healthy = False
        now = time.monotonic()
        if exc is not None and now - self._last_log >= self.log_every_s:
            self.log.warning(
                "%s: Redis is unavailable, failing open (%d failed calls since the last "
                "report): %r",
                self.role,
                self._unlogged,
                exc,
            )
            self._last_log = now
            self._unlogged = 0
