"""MemoryCache beyond the contract: least recently used values go first."""

from __future__ import annotations

import pytest

from sam3_service.cache import open_cache
from sam3_service.cache.memory import MemoryCache


async def test_the_least_recently_used_value_is_evicted() -> None:
    cache = MemoryCache(max_entries=2)
    await cache.set("a", b"1")
    await cache.set("b", b"2")
    assert await cache.get("a") == b"1"  # "b" is now the least recently used
    await cache.set("c", b"3")
    assert await cache.get("b") is None
    assert (await cache.get("a"), await cache.get("c")) == (b"1", b"3")


async def test_aclose_drops_everything() -> None:
    cache = MemoryCache()
    await cache.set("a", b"1")
    await cache.aclose()
    assert await cache.get("a") is None


def test_max_entries_must_be_positive() -> None:
    with pytest.raises(ValueError):
        MemoryCache(max_entries=0)


def test_an_empty_url_gives_the_memory_cache() -> None:
    assert isinstance(open_cache(""), MemoryCache)
