"""InProcessQueue beyond the contract: closing, serving twice, its retry policy (none), the
tasks it queues again, and the queue URL."""

from __future__ import annotations

import asyncio
import logging

import pytest

from sam3_service.errors import BackendUnavailable, ConfigError
from sam3_service.tasks import open_task_queue
from sam3_service.tasks.inprocess import InProcessQueue
from tests.tasks.handlers import Handler, HandlerRunner


async def serving(handler: Handler, **sizes: int) -> InProcessQueue:
    """A started queue whose jobs run `handler`."""
    queue = InProcessQueue(**sizes)
    await queue.start()
    await queue.serve(HandlerRunner(handler))
    return queue


async def test_aclose_cancels_a_running_job_and_refuses_new_ids() -> None:
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def slow_job(task_id: str) -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    queue = await serving(slow_job)
    await queue.enqueue("t1")
    await asyncio.wait_for(started.wait(), 5)
    await asyncio.wait_for(queue.aclose(), 5)
    assert cancelled.is_set()
    with pytest.raises(BackendUnavailable):
        await queue.enqueue("t2")


async def test_serving_twice_keeps_one_set_of_workers() -> None:
    running = 0
    peak = 0
    release = asyncio.Event()

    async def job(task_id: str) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await release.wait()
        running -= 1

    queue = await serving(job, workers=2)
    await queue.serve(HandlerRunner(job))
    for n in range(4):
        await queue.enqueue(f"t{n}")
    await asyncio.sleep(0.05)
    assert peak == 2
    release.set()
    await queue.aclose()


async def test_a_failing_job_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    done = asyncio.Event()

    async def failing(task_id: str) -> None:
        done.set()
        raise RuntimeError("boom")

    queue = await serving(failing)
    with caplog.at_level(logging.ERROR, logger="sam3_service.tasks.inprocess"):
        await queue.enqueue("t1")
        await asyncio.wait_for(done.wait(), 5)
        await asyncio.sleep(0)
    await queue.aclose()
    assert "t1" in caplog.text and "boom" in caplog.text


@pytest.mark.parametrize("kwargs", [{"workers": 0}, {"max_depth": 0}])
def test_sizes_must_be_positive(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        InProcessQueue(**kwargs)


async def test_a_transient_fault_is_not_retried_but_given_up() -> None:
    runs: list[str] = []

    async def blinking(task_id: str) -> None:
        runs.append(task_id)
        raise BackendUnavailable("the store blinked")

    runner = HandlerRunner(blinking)
    queue = InProcessQueue()
    await queue.serve(runner)
    await queue.enqueue("t1")
    await queue.enqueue("t2")
    async with asyncio.timeout(5):
        while len(runner.given_up) < 2:
            await asyncio.sleep(0.01)
    await queue.aclose()
    assert runs == ["t1", "t2"]
    assert [(task_id, error.code) for task_id, error in runner.given_up] == [
        ("t1", "backend_unavailable"),
        ("t2", "backend_unavailable"),
    ]


async def test_serving_first_queues_again_what_the_runner_left_unfinished() -> None:
    seen: list[str] = []

    async def record(task_id: str) -> None:
        seen.append(task_id)

    queue = InProcessQueue()
    await queue.serve(HandlerRunner(record, unfinished=["old", "older", "oldest"]), requeue_limit=2)
    async with asyncio.timeout(5):
        while len(seen) < 2:
            await asyncio.sleep(0.01)
    await queue.enqueue("new")
    async with asyncio.timeout(5):
        while len(seen) < 3:
            await asyncio.sleep(0.01)
    await queue.aclose()
    assert seen == ["old", "older", "new"]


def test_an_empty_url_gives_the_in_process_queue() -> None:
    queue = open_task_queue("", workers=3, max_depth=7)
    assert isinstance(queue, InProcessQueue)
    assert queue.workers == 3


@pytest.mark.parametrize("url", ["redis://localhost/0", "sqs://queue"])
def test_other_brokers_are_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError):
        open_task_queue(url)
