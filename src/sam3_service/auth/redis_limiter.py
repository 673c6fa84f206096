"""A rate limiter in Redis: one count per key, shared by every API replica.

The check and the update are one Lua script, so replicas never race, and the script reads
Redis's own clock, so replicas whose clocks disagree still agree on the limit.
"""

from __future__ import annotations

import logging

from ..redis_breaker import RedisBreaker
from .base import RateVerdict

__all__ = ["KEY_PREFIX", "RedisRateLimiter"]

log = logging.getLogger(__name__)

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


class RedisRateLimiter:
    """Request counts in Redis (`redis://`, `rediss://` or `unix://` URL), failing open.

    When Redis fails, requests go through, each counted in `failures` and logged; after a
    connection failure Redis is left alone for `cooldown_s` (`breaker`: `RedisBreaker`'s
    `cooldown_s` and `log_every_s`).
    """

    def __init__(self, url: str, *, timeout_s: float = 0.25, **breaker: float) -> None:
        self._redis = RedisBreaker(
            url, role="Rate limiter", log=log, timeout_s=timeout_s, **breaker
        )
        self._script = self._redis.client.register_script(_GCRA)

    @property
    def failures(self) -> int:
        """Requests let through unchecked because Redis failed."""
        return self._redis.failures

    async def acquire(self, name: str, *, per_min: int) -> RateVerdict:
        """Count one request for `name`; refuse it with the wait when over `per_min`.

        Lets it through (and counts a failure) when Redis fails.
        """
        if per_min < 1:
            raise ValueError(f"per_min must be at least 1, got {per_min}")
        interval_us = max(1, _PERIOD_US // per_min)
        allowed, wait_us = await self._redis.call(
            lambda: self._script(keys=[KEY_PREFIX + name], args=[interval_us, per_min]), (1, 0)
        )
        if allowed:
            return RateVerdict(allowed=True)
        return RateVerdict(allowed=False, retry_after_s=int(wait_us) / 1e6)

    async def ping(self) -> None:
        """Raise BackendUnavailable unless Redis answers."""
        await self._redis.ping()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._redis.aclose()
