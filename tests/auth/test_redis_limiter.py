"""RedisRateLimiter across replicas, and when Redis is down or restarts: it fails open."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
import redis

from sam3_service.auth.redis_limiter import KEY_PREFIX, RedisRateLimiter
from tests.servers import RedisServer

pytestmark = pytest.mark.redis


async def test_two_replicas_share_one_count(private_redis: RedisServer) -> None:
    replicas = [RedisRateLimiter(private_redis.url) for _ in range(2)]
    verdicts = [await replicas[i % 2].acquire("k", per_min=4) for i in range(8)]
    assert [v.allowed for v in verdicts] == [True] * 4 + [False] * 4
    for replica in replicas:
        await replica.aclose()


async def test_a_key_lives_no_longer_than_its_bucket_takes_to_refill(
    private_redis: RedisServer,
) -> None:
    limiter = RedisRateLimiter(private_redis.url)
    await limiter.acquire("k", per_min=60)
    with redis.Redis.from_url(private_redis.url) as client:
        assert 0 < client.pttl(KEY_PREFIX + "k") <= 1000
    await limiter.aclose()


async def test_a_dead_redis_lets_requests_through_quickly_and_counts_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    limiter = RedisRateLimiter(RedisServer().url)  # nothing listens there
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="sam3_service.auth.redis_limiter"):
        verdicts = [await limiter.acquire("k", per_min=1) for _ in range(20)]
    assert all(v.allowed for v in verdicts)
    assert time.monotonic() - started < 1
    assert limiter.failures == 20
    assert len(caplog.records) == 1  # one report, not one line per request
    await limiter.aclose()


async def test_limits_again_once_redis_is_back(private_redis: RedisServer) -> None:
    limiter = RedisRateLimiter(private_redis.url, cooldown_s=0.1)
    assert (await limiter.acquire("k", per_min=1)).allowed
    assert not (await limiter.acquire("k", per_min=1)).allowed
    private_redis.stop()
    assert (await limiter.acquire("k", per_min=1)).allowed  # open while down
    assert limiter.failures == 1
    private_redis.start()  # empty again: the count restarts
    await asyncio.sleep(0.15)
    assert (await limiter.acquire("k", per_min=1)).allowed
    assert not (await limiter.acquire("k", per_min=1)).allowed
    assert limiter.failures == 1
    await limiter.aclose()
