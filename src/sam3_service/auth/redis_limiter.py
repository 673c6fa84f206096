"""A rate limiter in Redis: one count per key, shared by every API replica.

The check and the update are one Lua script, so replicas never race, and the script reads
Redis's own clock, so replicas whose clocks disagree still agree on the limit.
"""

from __future__ import annotations

import logging
import math
import time

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .base import RateVerdict

__all__ = ["KEY_PREFIX", "RedisRateLimiter"]

logger = logging.getLogger(__name__)

KEY_PREFIX = "sam3:rate:"
_PERIOD_US = 60_000_000

# The generic cell rate algorithm, as in MemoryRateLimiter, in microseconds of Redis's clock.
# KEYS[1]: when the bucket is full again; ARGV[1]: the interval per request; ARGV[2]: the burst.
# Returns {1, 0} when allowed, {0, microseconds to wait} when not.
_GCRA = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
local interval = tonumber(ARGV[1])
local full_at = math.max(tonumber(redis.call('GET', KEYS[1]) or now), now) + interval
local allowed_from = full_at - interval * tonumber(ARGV[2])
if now < allowed_from then
  return {0, allowed_from - now}
end
redis.call('SET', KEYS[1], string.format('%d', full_at), 'PX', math.ceil((full_at - now) / 1000))
return {1, 0}
"""

# Errors that mean Redis cannot be reached: worth a cool-down, unlike a rejected command.
_UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)


class RedisRateLimiter:
    """Request counts in Redis (`redis://`, `rediss://` or `unix://` URL), failing open.

    When Redis fails, requests go through: each is counted in `failures` and logged at most
    once per `log_every_s`. After a connection failure Redis is left alone for `cooldown_s`, so
    a dead host costs one timeout per cool-down instead of one per request.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 0.25,
        cooldown_s: float = 1.0,
        log_every_s: float = 60.0,
    ) -> None:
        self.failures = 0
        self.cooldown_s = cooldown_s
        self.log_every_s = log_every_s
        self._client = Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), retries=1),  # one immediate retry replaces a stale socket
        )
        self._script = self._client.register_script(_GCRA)
        self._down_until = -math.inf
        self._last_log = -math.inf
        self._unlogged = 0

    async def acquire(self, name: str, *, per_min: int) -> RateVerdict:
        """Count one request for `name`; refuse it with the wait when over `per_min`.

        Lets it through (and counts a failure) when Redis fails.
        """
        if per_min < 1:
            raise ValueError(f"per_min must be at least 1, got {per_min}")
        if time.monotonic() < self._down_until:
            return self._fail_open(None)
        interval_us = max(1, _PERIOD_US // per_min)
        try:
            allowed, wait_us = await self._script(
                keys=[KEY_PREFIX + name], args=[interval_us, per_min]
            )
        except (RedisError, OSError) as exc:
            if isinstance(exc, _UNREACHABLE):
                self._down_until = time.monotonic() + self.cooldown_s
            return self._fail_open(exc)
        if allowed:
            return RateVerdict(allowed=True)
        return RateVerdict(allowed=False, retry_after_s=int(wait_us) / 1e6)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    def _fail_open(self, exc: Exception | None) -> RateVerdict:
        self.failures += 1
        self._unlogged += 1
        now = time.monotonic()
        if exc is not None and now - self._last_log >= self.log_every_s:
            logger.warning(
                "Rate limiter cannot use Redis, letting requests through "
                "(%d unchecked requests since the last report): %r",
                self._unlogged,
                exc,
            )
            self._last_log = now
            self._unlogged = 0
        return RateVerdict(allowed=True)
