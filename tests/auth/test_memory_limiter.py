"""MemoryRateLimiter on a fake clock: exact burst, refill and forgetting of idle names."""

from __future__ import annotations

import pytest

from sam3_service.auth.memory_limiter import MemoryRateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


async def test_after_a_burst_one_request_fits_per_interval(clock: Clock) -> None:
    limiter = MemoryRateLimiter(clock=clock)
    for _ in range(4):
        assert (await limiter.acquire("k", per_min=4)).allowed
    refused = await limiter.acquire("k", per_min=4)
    assert (refused.allowed, refused.retry_after_s) == (False, 15.0)
    clock.now += 14.9
    assert not (await limiter.acquire("k", per_min=4)).allowed
    clock.now += 0.1
    assert (await limiter.acquire("k", per_min=4)).allowed
    assert not (await limiter.acquire("k", per_min=4)).allowed


async def test_an_idle_minute_restores_the_whole_burst(clock: Clock) -> None:
    limiter = MemoryRateLimiter(clock=clock)
    for _ in range(3):
        await limiter.acquire("k", per_min=3)
    clock.now += 60
    assert [(await limiter.acquire("k", per_min=3)).allowed for _ in range(4)] == [
        True,
        True,
        True,
        False,
    ]


async def test_idle_names_are_forgotten_past_max_names(clock: Clock) -> None:
    limiter = MemoryRateLimiter(clock=clock, max_names=2)
    await limiter.acquire("a", per_min=60)
    await limiter.acquire("b", per_min=60)
    clock.now += 2  # both buckets are full again
    await limiter.acquire("c", per_min=60)
    assert set(limiter._full_at) == {"c"}
