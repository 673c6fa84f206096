"""The Cache contract, run against the in-process cache and a real Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import redis

from sam3_service.cache import Cache, open_cache


@pytest.fixture
def prefix() -> str:
    """A key prefix no other test (or test run) uses."""
    return f"sam3-test:{uuid.uuid4().hex[:12]}:"


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def cache(request: pytest.FixtureRequest, prefix: str) -> AsyncIterator[Cache]:
    url = "" if request.param == "memory" else request.getfixturevalue("redis_url")
    opened = open_cache(url)
    yield opened
    await opened.aclose()
    if url:
        with redis.Redis.from_url(url) as client:
            for key in client.scan_iter(match=f"{prefix}*"):
                client.delete(key)


async def test_missing_key_reads_as_none(cache: Cache, prefix: str) -> None:
    assert await cache.get(prefix + "absent") is None


async def test_set_then_get(cache: Cache, prefix: str) -> None:
    value = bytes(range(256))
    await cache.set(prefix + "k", value)
    assert await cache.get(prefix + "k") == value


async def test_set_overwrites(cache: Cache, prefix: str) -> None:
    await cache.set(prefix + "k", b"one")
    await cache.set(prefix + "k", b"two")
    assert await cache.get(prefix + "k") == b"two"


async def test_value_expires_after_its_ttl(cache: Cache, prefix: str) -> None:
    await cache.set(prefix + "k", b"v", ttl_s=0.1)
    assert await cache.get(prefix + "k") == b"v"
    await asyncio.sleep(0.25)
    assert await cache.get(prefix + "k") is None


async def test_add_stores_only_when_absent(cache: Cache, prefix: str) -> None:
    assert await cache.add(prefix + "claim", b"first") is True
    assert await cache.add(prefix + "claim", b"second") is False
    assert await cache.get(prefix + "claim") == b"first"


async def test_add_succeeds_again_once_the_claim_expired(cache: Cache, prefix: str) -> None:
    assert await cache.add(prefix + "claim", b"first", ttl_s=0.1) is True
    await asyncio.sleep(0.25)
    assert await cache.add(prefix + "claim", b"second", ttl_s=0.1) is True


async def test_one_of_many_concurrent_adds_wins(cache: Cache, prefix: str) -> None:
    results = await asyncio.gather(*(cache.add(prefix + "claim", b"%d" % n) for n in range(10)))
    assert results.count(True) == 1


async def test_delete_removes_and_ignores_missing_keys(cache: Cache, prefix: str) -> None:
    await cache.set(prefix + "k", b"v")
    await cache.delete(prefix + "k")
    await cache.delete(prefix + "never-set")
    assert await cache.get(prefix + "k") is None


@pytest.mark.parametrize("ttl_s", [0, -1])
async def test_a_ttl_that_is_not_positive_is_a_programming_error(
    cache: Cache, prefix: str, ttl_s: float
) -> None:
    with pytest.raises(ValueError):
        await cache.set(prefix + "k", b"v", ttl_s=ttl_s)
    with pytest.raises(ValueError):
        await cache.add(prefix + "k", b"v", ttl_s=ttl_s)
