"""Notices between processes over Redis pub/sub: one channel, one subscription per process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis
from redis.exceptions import RedisError

from .memory_notifier import MemoryNotifier

__all__ = ["RedisNotifier"]

log = logging.getLogger(__name__)

CHANNEL = "sam3:notices"
_READ_S = 5.0  # one read of the subscription waits this long at most, then reads again


class RedisNotifier:
    """`notify` publishes the key on `channel`; each process subscribes once (on its first
    `listen`) and wakes its own listeners of the keys it receives.

    Redis being down never fails a call: a notice is then lost (logged once per `log_every_s`),
    and the subscription is made again every `retry_s` until Redis answers.
    """

    def __init__(
        self,
        url: str,
        *,
        channel: str = CHANNEL,
        timeout_s: float = 0.5,
        retry_s: float = 1.0,
        log_every_s: float = 60.0,
    ) -> None:
        self.channel = channel
        self.retry_s = retry_s
        self.log_every_s = log_every_s
        self._client = Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )
        self._local = MemoryNotifier()
        self._reader: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self._timeout_s = timeout_s
        self._last_log = -math.inf

    @property
    def listening(self) -> bool:
        """Whether this process's subscription is up."""
        return self._subscribed.is_set()

    async def notify(self, key: str) -> None:
        """Publish a notice for `key` to every process; does nothing if Redis is unreachable."""
        try:
            await self._client.publish(self.channel, key)
        except (RedisError, OSError) as exc:
            self._log("cannot publish a notice", exc)

    @asynccontextmanager
    async def listen(self, key: str) -> AsyncIterator[asyncio.Event]:
        """An event set at each notice for `key` while the block runs.

        The first listener starts the subscription and waits (`timeout_s` at most) for it, so
        that a notice sent just after this returns is not missed; later ones never wait.
        """
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read(), name="sam3-notices")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._subscribed.wait(), self._timeout_s)
        async with self._local.listen(key) as event:
            yield event

    async def aclose(self) -> None:
        """Stop the subscription and close the connections."""
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        await self._local.aclose()
        await self._client.aclose()

    async def _read(self) -> None:
        while True:
            try:
                async with self._client.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(self.channel)
                    self._subscribed.set()
                    while True:
                        message = await pubsub.get_message(timeout=_READ_S)
                        if message is not None and message["type"] == "message":
                            await self._local.notify(message["data"].decode())
            except (RedisError, OSError) as exc:
                self._subscribed.clear()
                self._log("the subscription to notices failed; trying again", exc)
                await asyncio.sleep(self.retry_s)

    def _log(self, what: str, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._last_log >= self.log_every_s:
            log.warning("Redis notices: %s: %r", what, exc)
            self._last_log = now
