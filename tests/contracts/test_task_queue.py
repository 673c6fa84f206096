"""The TaskQueue contract: ids given to `enqueue` reach the job handler.

The in-process queue runs the handler itself (given as a runner to `serve`). The Celery queue
only publishes: here its ids reach the handler through `CeleryWorker`s (solo pool, on threads
of this process), one per `workers`, each running the handler on the test's event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import ExitStack
from typing import Protocol

import pytest

from sam3_service.errors import Busy
from sam3_service.tasks import TaskQueue, open_task_queue
from sam3_service.tasks.celery import CeleryQueue, CeleryWorker
from sam3_service.tasks.celery.topology import declare_queues
from sam3_service.tasks.inprocess import InProcessQueue
from tests.tasks.celery.helpers import LoopProcess, consuming
from tests.tasks.handlers import Handler, HandlerRunner

WAIT_S = 5


class Queues(Protocol):
    """Makes queues whose jobs run `handler`, and starts delivering their ids on demand."""

    def make(self, handler: Handler, *, workers: int = 1, max_depth: int = 100) -> TaskQueue:
        """A queue whose ids reach `handler` (on `workers` workers) once started."""
        ...

    async def start(self, queue: TaskQueue) -> None:
        """Start delivering `queue`'s ids."""
        ...


class InProcessQueues:
    def __init__(self) -> None:
        self.opened: list[InProcessQueue] = []
        self.handlers: dict[int, Handler] = {}

    def make(self, handler: Handler, *, workers: int = 1, max_depth: int = 100) -> TaskQueue:
        queue = open_task_queue("", workers=workers, max_depth=max_depth)
        assert isinstance(queue, InProcessQueue)
        self.opened.append(queue)
        self.handlers[id(queue)] = handler
        return queue

    async def start(self, queue: TaskQueue) -> None:
        assert isinstance(queue, InProcessQueue)
        await queue.start()
        await queue.serve(HandlerRunner(self.handlers[id(queue)]))

    async def aclose(self) -> None:
        for queue in self.opened:
            await queue.aclose()


class CeleryQueues:
    def __init__(self, url: str, name: str) -> None:
        self.url = url
        self.name = name
        self.consumers: dict[int, tuple[Handler, int]] = {}
        self.opened: list[CeleryQueue] = []
        self.running = ExitStack()

    def make(self, handler: Handler, *, workers: int = 1, max_depth: int = 100) -> TaskQueue:
        queue = open_task_queue(self.url, max_depth=max_depth, name=self.name)
        assert isinstance(queue, CeleryQueue)
        declare_queues(queue.app, queue.queue)
        self.consumers[id(queue)] = (handler, workers)
        self.opened.append(queue)
        return queue

    async def start(self, queue: TaskQueue) -> None:
        handler, workers = self.consumers[id(queue)]
        loop = asyncio.get_running_loop()
        for _ in range(workers):
            worker = CeleryWorker(self.url, LoopProcess(handler, loop), queue=self.name)
            await asyncio.to_thread(self.running.enter_context, consuming(worker))

    async def aclose(self) -> None:
        await asyncio.to_thread(self.running.close)
        for queue in self.opened:
            await queue.aclose()


@pytest.fixture(params=["inprocess", pytest.param("celery", marks=pytest.mark.amqp)])
async def queues(request: pytest.FixtureRequest) -> AsyncIterator[Queues]:
    """The queues of one implementation, closed after the test."""
    made: InProcessQueues | CeleryQueues
    if request.param == "inprocess":
        made = InProcessQueues()
    else:
        made = CeleryQueues(
            request.getfixturevalue("amqp_url"), request.getfixturevalue("queue_name")
        )
    yield made
    await made.aclose()


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


async def test_every_enqueued_id_reaches_the_handler(queues: Queues) -> None:
    recorder = Recorder()
    queue = queues.make(recorder)
    await queues.start(queue)
    for n in range(5):
        await queue.enqueue(f"t{n}")
    assert sorted(await recorder.wait_for(5)) == [f"t{n}" for n in range(5)]


async def test_depth_counts_ids_not_yet_picked_up(queues: Queues) -> None:
    recorder = Recorder()
    queue = queues.make(recorder)
    await queue.enqueue("a")
    await queue.enqueue("b")
    assert await queue.depth() == 2
    await queues.start(queue)
    await recorder.wait_for(2)
    assert await queue.depth() == 0


async def test_a_full_queue_raises_busy(queues: Queues) -> None:
    queue = queues.make(Recorder(), max_depth=2)
    await queue.enqueue("a")
    await queue.enqueue("b")
    with pytest.raises(Busy):
        await queue.enqueue("c")


async def test_a_failing_job_does_not_stop_the_workers(queues: Queues) -> None:
    recorder = Recorder()

    async def handler(task_id: str) -> None:
        await recorder(task_id)
        if task_id == "bad":
            raise RuntimeError("the job failed")

    queue = queues.make(handler)
    await queues.start(queue)
    await queue.enqueue("bad")
    await queue.enqueue("good")
    assert await recorder.wait_for(2) == ["bad", "good"]


async def test_workers_run_jobs_concurrently(queues: Queues) -> None:
    if isinstance(queues, CeleryQueues):
        pytest.skip("Celery runs one worker per process: tests/integration runs several")
    both_running = asyncio.Barrier(3)

    async def handler(task_id: str) -> None:
        await both_running.wait()

    queue = queues.make(handler, workers=2)
    await queues.start(queue)
    await queue.enqueue("a")
    await queue.enqueue("b")
    await asyncio.wait_for(both_running.wait(), WAIT_S)
