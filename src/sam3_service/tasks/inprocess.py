"""An asyncio queue and worker tasks in the API process: the embedded queue, no broker needed."""

from __future__ import annotations

import asyncio
import logging

from ..errors import TRANSIENT_ERRORS, BackendUnavailable, Busy
from .base import EmbeddedRunner, QueueRoute

__all__ = ["InProcessQueue"]

logger = logging.getLogger(__name__)


class InProcessQueue:
    """Runs each task id with a runner (`serve`) on `workers` asyncio tasks, at most
    `max_depth` ids waiting.

    Not durable: ids still waiting when the process stops are lost (their records stay
    `queued`), so `serve` first queues again what the runner lists as unfinished. Nothing is
    retried: a transient fault is the task's outcome (the runner gives it up).
    """

    def __init__(self, *, workers: int = 1, max_depth: int = 1000) -> None:
        if workers < 1 or max_depth < 1:
            raise ValueError("workers and max_depth must be at least 1")
        self.workers = workers
        self._queue: asyncio.Queue[str] = asyncio.Queue(maxsize=max_depth)
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False

    async def start(self) -> None:
        """Nothing to connect: `serve` starts the workers."""

    async def serve(self, runner: EmbeddedRunner, *, requeue_limit: int = 0) -> None:
        """Queue again up to `requeue_limit` unfinished tasks, then start the worker tasks on
        the running event loop (once; later calls do nothing)."""
        if self._tasks:
            return
        requeued = await runner.unfinished(requeue_limit) if requeue_limit else []
        for task_id in requeued:
            await self.enqueue(task_id)
        if requeued:
            logger.info(
                "queued again %d tasks left unfinished by an earlier process", len(requeued)
            )
        self._tasks = [
            asyncio.create_task(self._work(runner), name=f"inprocess-worker-{n}")
            for n in range(self.workers)
        ]

    async def enqueue(self, task_id: str, *, route: QueueRoute | None = None) -> None:
        """Queue a task id (one process runs every task: `route` changes nothing). Raises
        Busy when full, BackendUnavailable once closed."""
        if self._closed:
            raise BackendUnavailable("the in-process queue is closed")
        try:
            self._queue.put_nowait(task_id)
        except asyncio.QueueFull:
            raise Busy(f"the queue holds {self._queue.maxsize} tasks already") from None

    async def depth(self) -> int:
        """How many task ids wait to be picked up."""
        return self._queue.qsize()

    async def aclose(self) -> None:
        """Cancel the workers (a running job sees CancelledError) and wait for them to end."""
        self._closed = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def _work(self, runner: EmbeddedRunner) -> None:
        while True:
            task_id = await self._queue.get()
            try:
                await self._run(runner, task_id)
            except Exception:
                logger.exception("job %s failed in the in-process worker", task_id)
            finally:
                self._queue.task_done()

    async def _run(self, runner: EmbeddedRunner, task_id: str) -> None:
        try:
            await runner.run(task_id)
        except TRANSIENT_ERRORS as exc:  # no retry here: the fault is the task's outcome
            await runner.give_up(task_id, exc)
