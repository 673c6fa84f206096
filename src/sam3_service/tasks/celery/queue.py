"""The publishing side: task ids onto RabbitMQ, confirmed by the broker (the API's queue)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from ...errors import BackendUnavailable, Busy
from .app import DEFAULT_QUEUE, TASK_NAME, celery_app
from .topology import BROKER_ERRORS, declare_queues, message_count

__all__ = ["CeleryQueue"]

T = TypeVar("T")


class CeleryQueue:
    """Publishes task ids to `queue` on RabbitMQ (`amqp://`); it never consumes.

    Jobs run in `sam3-service worker` processes (`CeleryWorker`). `max_depth` is checked
    before each publish, so the bound is approximate under concurrent submissions.
    """

    def __init__(self, url: str, *, queue: str = DEFAULT_QUEUE, max_depth: int = 1000) -> None:
        if max_depth < 1:
            raise ValueError("max_depth must be at least 1")
        self.queue = queue
        self.max_depth = max_depth
        self.app = celery_app(url, queue)

    async def start(self) -> None:
        """Declare the queues. Raises BackendUnavailable if the broker cannot be reached."""
        await self._call(lambda: declare_queues(self.app, self.queue))

    async def enqueue(self, task_id: str) -> None:
        """Publish a task id, confirmed by the broker. Raises Busy or BackendUnavailable."""
        depth = await self.depth()
        if depth >= self.max_depth:
            raise Busy(f"the queue holds {depth} tasks already", retry_after=5)
        await self._call(lambda: self._publish(task_id))

    async def depth(self) -> int:
        """How many task ids wait in the queue (for autoscaling; not those being run)."""
        return await self._call(lambda: message_count(self.app, self.queue))

    async def aclose(self) -> None:
        """Release the broker connections; queued ids stay in the broker."""
        await asyncio.to_thread(self.app.close)

    def _publish(self, task_id: str) -> None:
        self.app.send_task(TASK_NAME, args=[task_id], task_id=task_id, retry=True)

    async def _call(self, fn: Callable[[], T]) -> T:
        try:
            return await asyncio.to_thread(fn)
        except BROKER_ERRORS as exc:
            raise BackendUnavailable(f"the task queue is unavailable: {exc}") from exc
