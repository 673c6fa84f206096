"""RedisCache when Redis is down, comes up, or restarts: misses, never errors, then recovery."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator

import pytest

from sam3_service.cache import open_cache
from sam3_service.cache.redis_cache import RedisCache
from sam3_service.errors import ConfigError
from tests.servers import RedisServer, free_port


@pytest.fixture
def server() -> Iterator[RedisServer]:
    """A stopped server on a free port."""
    redis_server = RedisServer(free_port())
    yield redis_server
    redis_server.stop()


async def test_a_dead_redis_answers_misses_quickly_and_counts_failures(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache = RedisCache(f"redis://127.0.0.1:{free_port()}/0")
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="sam3_service.cache.redis_cache"):
        for _ in range(25):
            assert await cache.get("k") is None
            await cache.set("k", b"v", ttl_s=5)
            assert await cache.add("k", b"v") is True
            await cache.delete("k")
    assert time.monotonic() - started < 1
    assert cache.failures == 100
    assert len(caplog.records) == 1  # one report, not one line per call
    await cache.aclose()


@pytest.mark.redis
async def test_a_cache_made_while_redis_is_down_works_once_it_is_up(
    server: RedisServer,
) -> None:
    cache = RedisCache(f"redis://127.0.0.1:{server.port}/0", cooldown_s=0.1)
    assert await cache.get("k") is None
    assert cache.failures == 1
    server.start()
    await asyncio.sleep(0.15)  # past the cool-down
    await cache.set("k", b"v")
    assert await cache.get("k") == b"v"
    assert cache.failures == 1
    await cache.aclose()


@pytest.mark.redis
async def test_the_cache_reconnects_after_redis_restarts(server: RedisServer) -> None:
    cache = RedisCache(f"redis://127.0.0.1:{server.port}/0", cooldown_s=0.1)
    server.start()
    await cache.set("k", b"before")
    server.stop()
    assert await cache.get("k") is None
    server.start()
    await asyncio.sleep(0.15)
    await cache.set("k", b"after")
    assert await cache.get("k") == b"after"
    await cache.aclose()


@pytest.mark.parametrize("url", ["redis://h:6379/0", "rediss://h:6380/1", "unix:///run/r.sock"])
def test_redis_urls_give_a_redis_cache(url: str) -> None:
    assert isinstance(open_cache(url), RedisCache)


@pytest.mark.parametrize("url", ["memcached://h", "http://h", "localhost:6379"])
def test_other_urls_are_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError):
        open_cache(url)
