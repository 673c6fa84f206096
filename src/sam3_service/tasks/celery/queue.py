"""The publishing side: task ids onto RabbitMQ, confirmed by the broker (the API's queue)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TypeVar

from amqp.exceptions import NotFound, PreconditionFailed
from kombu import Queue

from ...errors import BackendUnavailable, Busy
from ..base import DEFAULT_WORKER_WAIT_S, QueueRoute
from .app import DEFAULT_QUEUE, TASK_NAME, celery_app
from .topology import (
    BROKER_ERRORS,
    declare,
    declare_queues,
    message_count,
    version_queue,
    worker_queue,
)

__all__ = ["CeleryQueue"]

T = TypeVar("T")
log = logging.getLogger(__name__)


class CeleryQueue:
    """Publishes task ids to `queue` on RabbitMQ (`amqp://`); it never consumes.

    A routed task goes to its worker's own queue, where it waits `worker_wait_s` at most
    before any worker of its version may take it (`by_worker=False`: routes name versions
    only, so the version's workers share its tasks); else to its version's queue; else to
    `queue`, which every worker takes from. Jobs run in `sam3-service worker` processes
    (`CeleryWorker`). `max_depth` is checked before each publish, so the bound is approximate
    under concurrent submissions.
    """

    def __init__(
        self,
        url: str,
        *,
        queue: str = DEFAULT_QUEUE,
        max_depth: int = 1000,
        worker_wait_s: float = DEFAULT_WORKER_WAIT_S,
        by_worker: bool = True,
    ) -> None:
        if max_depth < 1 or worker_wait_s <= 0:
            raise ValueError("max_depth must be at least 1, worker_wait_s positive")
        self.queue = queue
        self.max_depth = max_depth
        self.worker_wait_s = worker_wait_s
        self.by_worker = by_worker
        self.app = celery_app(url, queue)
        self._versions: set[str] = set()  # whose queues this process declared: for `depth`

    async def start(self) -> None:
        """Declare the queues. Raises BackendUnavailable if the broker cannot be reached."""
        await self._call(lambda: declare_queues(self.app, self.queue))

    async def enqueue(self, task_id: str, *, route: QueueRoute | None = None) -> None:
        """Publish a task id, confirmed by the broker, where `route` says (see the class).
        Raises Busy or BackendUnavailable."""
        depth = await self.depth()
        if depth >= self.max_depth:
            raise Busy(f"the queue holds {depth} tasks already", retry_after=5)
        await self._call(lambda: self._publish(task_id, route or QueueRoute()))

    async def depth(self) -> int:
        """How many task ids wait in the shared queue and the version queues this process
        published to (not those being run, nor the few seconds' worth in workers' queues)."""
        return await self._call(self._depth)

    async def aclose(self) -> None:
        """Release the broker connections; queued ids stay in the broker."""
        await asyncio.to_thread(self.app.close)

    def _depth(self) -> int:
        total = message_count(self.app, self.queue)
        for version in sorted(self._versions):
            try:
                total += message_count(self.app, version_queue(self.queue, version).name)
            except NotFound:  # an operator deleted it
                self._versions.discard(version)
        return total

    def _publish(self, task_id: str, route: QueueRoute) -> None:
        queue = self._declared(route)
        options = {"queue": queue, "declare": []} if queue is not None else {}
        self.app.send_task(TASK_NAME, args=[task_id], task_id=task_id, retry=True, **options)

    def _declared(self, route: QueueRoute) -> Queue | None:
        """The queue that `route` leads to, declared now (the version's queue first: a worker's
        queue leads there), or None for the shared queue."""
        queues = [version_queue(self.queue, route.version)] if route.version else []
        if route.version:
            self._versions.add(route.version)
        if route.worker and self.by_worker:
            wait_s = self.worker_wait_s
            queues.append(
                worker_queue(self.queue, route.worker, version=route.version, wait_s=wait_s)
            )
        if not queues:
            return None
        try:
            declare(self.app, *queues)
        except PreconditionFailed as exc:  # declared otherwise: another SAM3_AFFINITY_WAIT_S
            if not (route.worker and self.by_worker):
                raise
            log.warning("cannot route to worker %s (%s); not to it, then", route.worker, exc)
            queues.pop()
            declare(self.app, *queues)
            return queues[-1] if queues else None
        return queues[-1]

    async def _call(self, fn: Callable[[], T]) -> T:
        try:
            return await asyncio.to_thread(fn)
        except BROKER_ERRORS as exc:
            raise BackendUnavailable(f"the task queue is unavailable: {exc}") from exc
