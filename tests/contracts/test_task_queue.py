"""The TaskQueue contract: ids given to `enqueue` reach the job handler.

Only the in-process queue exists so far; the Celery queue adds its parameter here.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from sam3_service.errors import Busy
from sam3_service.tasks import JobHandler, TaskQueue, open_task_queue
from sam3_service.tasks.inprocess import InProcessQueue

WAIT_S = 5

MakeQueue = Callable[..., TaskQueue]


@pytest.fixture(params=["inprocess"])
async def make_queue() -> AsyncIterator[MakeQueue]:
    """Builds started queues whose jobs run `handler`; closes them after the test."""
    opened: list[InProcessQueue] = []

    def make(handler: JobHandler, *, workers: int = 1, max_depth: int = 100) -> TaskQueue:
        queue = open_task_queue("", handler, workers=workers, max_depth=max_depth)
        assert isinstance(queue, InProcessQueue)
        opened.append(queue)
        return queue

    yield make
    for queue in opened:
        await queue.aclose()


async def start(queue: TaskQueue) -> None:
    assert isinstance(queue, InProcessQueue)
    await queue.start()


class Recorder:
    """A job handler that records ids and lets a test wait for some of them."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self._changed = asyncio.Condition()

    async def __call__(self, task_id: str) -> None:
        async with self._changed:
            self.seen.append(task_id)
            self._changed.notify_all()

    async def wait_for(self, count: int) -> list[str]:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: len(self.seen) >= count), WAIT_S)
        return self.seen


async def test_every_enqueued_id_reaches_the_handler(make_queue: MakeQueue) -> None:
    recorder = Recorder()
    queue = make_queue(recorder)
    await start(queue)
    for n in range(5):
        await queue.enqueue(f"t{n}")
    assert sorted(await recorder.wait_for(5)) == [f"t{n}" for n in range(5)]


async def test_depth_counts_ids_not_yet_picked_up(make_queue: MakeQueue) -> None:
    recorder = Recorder()
    queue = make_queue(recorder)
    await queue.enqueue("a")
    await queue.enqueue("b")
    assert await queue.depth() == 2
    await start(queue)
    await recorder.wait_for(2)
    assert await queue.depth() == 0


async def test_a_full_queue_raises_busy(make_queue: MakeQueue) -> None:
    queue = make_queue(Recorder(), max_depth=2)
    await queue.enqueue("a")
    await queue.enqueue("b")
    with pytest.raises(Busy):
        await queue.enqueue("c")


async def test_a_failing_job_does_not_stop_the_workers(make_queue: MakeQueue) -> None:
    recorder = Recorder()

    async def handler(task_id: str) -> None:
        await recorder(task_id)
        if task_id == "bad":
            raise RuntimeError("the job failed")

    queue = make_queue(handler)
    await start(queue)
    await queue.enqueue("bad")
    await queue.enqueue("good")
    assert await recorder.wait_for(2) == ["bad", "good"]


async def test_workers_run_jobs_concurrently(make_queue: MakeQueue) -> None:
    both_running = asyncio.Barrier(3)

    async def handler(task_id: str) -> None:
        await both_running.wait()

    queue = make_queue(handler, workers=2)
    await start(queue)
    await queue.enqueue("a")
    await queue.enqueue("b")
    await asyncio.wait_for(both_running.wait(), WAIT_S)
