"""The RateLimiter contract, run against the in-process limiter and a real Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import redis

from sam3_service.auth import RateLimiter, open_rate_limiter
from sam3_service.auth.redis_limiter import KEY_PREFIX


@pytest.fixture
def name() -> str:
    """A key id no other test (or test run) uses."""
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def limiter(request: pytest.FixtureRequest, name: str) -> AsyncIterator[RateLimiter]:
    url = "" if request.param == "memory" else request.getfixturevalue("redis_url")
    opened = open_rate_limiter(url)
    yield opened
    await opened.aclose()
    if url:
        with redis.Redis.from_url(url) as client:
            client.delete(KEY_PREFIX + name, KEY_PREFIX + name + "-other")


async def test_a_burst_of_the_rate_is_allowed_then_refused(limiter: RateLimiter, name: str) -> None:
    verdicts = [await limiter.acquire(name, per_min=5) for _ in range(7)]
    assert [v.allowed for v in verdicts] == [True] * 5 + [False] * 2
    assert all(v.retry_after_s == 0 for v in verdicts[:5])


async def test_a_refusal_says_when_one_more_request_fits(limiter: RateLimiter, name: str) -> None:
    for _ in range(3):
        await limiter.acquire(name, per_min=3)
    refused = await limiter.acquire(name, per_min=3)
    assert not refused.allowed
    assert 19 < refused.retry_after_s <= 20  # one request every 60/3 s


async def test_names_are_counted_apart(limiter: RateLimiter, name: str) -> None:
    assert (await limiter.acquire(name, per_min=1)).allowed
    assert not (await limiter.acquire(name, per_min=1)).allowed
    assert (await limiter.acquire(name + "-other", per_min=1)).allowed


async def test_the_rate_refills_over_time(limiter: RateLimiter, name: str) -> None:
    per_min = 600  # one request every 0.1 s
    while (await limiter.acquire(name, per_min=per_min)).allowed:
        pass
    await asyncio.sleep(0.25)
    assert (await limiter.acquire(name, per_min=per_min)).allowed


async def test_concurrent_requests_never_exceed_the_rate(limiter: RateLimiter, name: str) -> None:
    verdicts = await asyncio.gather(*(limiter.acquire(name, per_min=10) for _ in range(30)))
    assert sum(v.allowed for v in verdicts) == 10


async def test_a_rate_under_one_is_refused(limiter: RateLimiter, name: str) -> None:
    with pytest.raises(ValueError):
        await limiter.acquire(name, per_min=0)


async def test_a_healthy_limiter_counts_no_failures(limiter: RateLimiter, name: str) -> None:
    await limiter.acquire(name, per_min=1)
    assert limiter.failures == 0
