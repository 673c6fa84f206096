"""Notifiers: a notice wakes the listeners of its key, in this process or (Redis) in others."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from sam3_service.cache import Notifier, open_notifier
from sam3_service.cache.memory_notifier import MemoryNotifier
from sam3_service.cache.redis_notifier import RedisNotifier
from sam3_service.errors import ConfigError
from tests.servers import free_port

NotifierPair = tuple[Notifier, Notifier]  # (the listener's, the notifier's): two processes


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def pair(request: pytest.FixtureRequest) -> AsyncIterator[NotifierPair]:
    if request.param == "memory":
        one = MemoryNotifier()
        yield one, one
        await one.aclose()
        return
    url = request.getfixturevalue("redis_url")
    channel = f"test-notices-{uuid.uuid4().hex}"  # the server is shared with other tests
    listener, sender = RedisNotifier(url, channel=channel), RedisNotifier(url, channel=channel)
    yield listener, sender
    await listener.aclose()
    await sender.aclose()


async def eventually(condition: Callable[[], bool], timeout_s: float = 5) -> bool:
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.005)
    return True


async def test_a_notice_wakes_the_listeners_of_its_key_only(pair: NotifierPair) -> None:
    listener, sender = pair
    async with (
        listener.listen("task-a") as first,
        listener.listen("task-a") as second,
        listener.listen("task-b") as other,
    ):
        await sender.notify("task-a")
        assert await eventually(lambda: first.is_set() and second.is_set())
        await asyncio.sleep(0.05)
        assert not other.is_set()


async def test_a_cleared_event_is_set_again_by_the_next_notice(pair: NotifierPair) -> None:
    listener, sender = pair
    async with listener.listen("task") as notice:
        await sender.notify("task")
        await eventually(notice.is_set)
        notice.clear()
        await sender.notify("task")
        assert await eventually(notice.is_set)


async def test_a_notice_nobody_listens_to_is_dropped(pair: NotifierPair) -> None:
    listener, sender = pair
    await sender.notify("nobody")
    async with listener.listen("nobody") as notice:
        await asyncio.sleep(0.05)
        assert not notice.is_set()


async def test_a_dead_redis_fails_nothing() -> None:
    notifier = RedisNotifier(f"redis://127.0.0.1:{free_port()}/0", retry_s=0.05)
    async with asyncio.timeout(5):
        await notifier.notify("task")
        async with notifier.listen("task") as notice:
            await asyncio.sleep(0.1)  # the subscription retries meanwhile
            assert not notice.is_set()
    await notifier.aclose()


@pytest.mark.parametrize(
    ("url", "kind"),
    [("", MemoryNotifier), ("redis://127.0.0.1:1/0", RedisNotifier)],
)
async def test_the_url_picks_the_notifier(url: str, kind: type) -> None:
    notifier = open_notifier(url)
    assert isinstance(notifier, kind)
    await notifier.aclose()


def test_another_url_is_refused() -> None:
    with pytest.raises(ConfigError):
        open_notifier("memcached://x")
