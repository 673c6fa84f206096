"""CeleryWorker beyond the queue contract: its pools, retries and dead letters, and jobs that
crash or outlive their time limits (in a real prefork worker process)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sam3_service.errors import BackendUnavailable, ConfigError, Sam3Error
from sam3_service.tasks import open_task_worker
from sam3_service.tasks.celery import CeleryQueue, CeleryWorker
from sam3_service.tasks.celery.topology import dead_name, message_count
from tests.servers import delete_queues
from tests.tasks.celery.helpers import (
    LoopProcess,
    consuming,
    hold_and_drop,
    take_messages,
    task_args,
)
from tests.tasks.celery.worker_main import MAX_ATTEMPTS
from tests.tasks.handlers import ignore

WAIT_S = 10
REPO = Path(__file__).resolve().parents[3]


class Calls:
    """A job handler that records when it ran and fails as told."""

    def __init__(self, *, failures: int = 0, error: Exception | None = None) -> None:
        self.times: list[float] = []
        self.failures = failures
        self.error = error or BackendUnavailable("the store blinked")

    async def __call__(self, task_id: str) -> None:
        self.times.append(time.monotonic())
        if len(self.times) <= self.failures:
            raise self.error

    async def wait_for(self, count: int) -> None:
        deadline = time.monotonic() + WAIT_S
        while len(self.times) < count:
            assert time.monotonic() < deadline, f"{len(self.times)} calls, expected {count}"
            await asyncio.sleep(0.02)


async def dead_letters(queue: CeleryQueue) -> int:
    """How many task ids were given up and wait in the queue's dead-letter queue."""
    return await asyncio.to_thread(message_count, queue.app, dead_name(queue.queue))


async def wait_given_up(process: LoopProcess) -> None:
    deadline = time.monotonic() + WAIT_S
    while not process.given_up:
        assert time.monotonic() < deadline, "never given up"
        await asyncio.sleep(0.02)


def test_a_worker_needs_an_amqp_url_and_sane_options() -> None:
    process = LoopProcess(ignore, asyncio.new_event_loop())
    with pytest.raises(ConfigError):
        open_task_worker("redis://localhost/0", process)
    with pytest.raises(ValueError):
        CeleryWorker("amqp://localhost//", process, max_attempts=0)
    with pytest.raises(ValueError):
        CeleryWorker("amqp://localhost//", process, pool="threads")
    with pytest.raises(ValueError):
        CeleryWorker("amqp://localhost//", process, concurrency=0)


def test_prefork_runs_jobs_in_children_and_solo_in_the_worker_itself() -> None:
    process = LoopProcess(ignore, asyncio.new_event_loop())
    prefork = CeleryWorker("amqp://localhost//", process, queue="jobs", concurrency=3)
    options = prefork.worker_options()
    assert (prefork.processes, options["concurrency"]) == (3, 3)
    assert options["use_eventloop"] is True
    solo = CeleryWorker("amqp://localhost//", process, pool="solo", concurrency=3)
    assert (solo.processes, solo.worker_options()["concurrency"]) == (1, 1)
    assert solo.worker_options()["use_eventloop"] is False  # Celery's loop stalls with solo
    assert solo.app.conf.broker_heartbeat == 0  # its blocking loop sends none


@pytest.mark.amqp
async def test_a_transient_error_is_retried_with_a_growing_backoff(
    amqp_url: str, queue_name: str
) -> None:
    calls = Calls(failures=2)
    process = LoopProcess(calls, asyncio.get_running_loop())
    worker = CeleryWorker(amqp_url, process, queue=queue_name, max_attempts=4, backoff_s=0.2)
    queue = CeleryQueue(amqp_url, queue=queue_name)
    await queue.start()
    with consuming(worker):
        await queue.enqueue("t1")
        await calls.wait_for(3)
    first, second, third = calls.times
    assert second - first >= 0.2
    assert third - second >= 0.4
    assert process.given_up == []
    assert await dead_letters(queue) == 0
    await queue.aclose()


@pytest.mark.amqp
async def test_a_poison_task_is_given_up_into_the_dead_letter_queue(
    amqp_url: str, queue_name: str
) -> None:
    calls = Calls(failures=1000)
    process = LoopProcess(calls, asyncio.get_running_loop())
    worker = CeleryWorker(amqp_url, process, queue=queue_name, max_attempts=3, backoff_s=0.05)
    queue = CeleryQueue(amqp_url, queue=queue_name)
    await queue.start()
    with consuming(worker):
        await queue.enqueue("poison")
        await wait_given_up(process)
        await asyncio.sleep(0.5)  # time for a loop to show, were there one
    assert len(calls.times) == 3
    [(task_id, error)] = process.given_up
    assert (task_id, error.code) == ("poison", "backend_unavailable")
    assert (await queue.depth(), await dead_letters(queue)) == (0, 1)
    [message] = take_messages(amqp_url, f"{queue_name}.dead")
    assert task_args(message) == ["poison"]
    await queue.aclose()


@pytest.mark.amqp
async def test_an_unexpected_error_is_given_up_at_once(amqp_url: str, queue_name: str) -> None:
    calls = Calls(failures=1, error=RuntimeError("a bug"))
    process = LoopProcess(calls, asyncio.get_running_loop())
    worker = CeleryWorker(amqp_url, process, queue=queue_name, backoff_s=0.05)
    queue = CeleryQueue(amqp_url, queue=queue_name)
    await queue.start()
    with consuming(worker):
        await queue.enqueue("buggy")
        await wait_given_up(process)
    assert len(calls.times) == 1
    assert process.given_up[0][1].code == Sam3Error.code
    assert await dead_letters(queue) == 1
    await queue.aclose()


@pytest.mark.amqp
async def test_a_redelivered_message_counts_as_a_failed_attempt(
    amqp_url: str, queue_name: str
) -> None:
    queue = CeleryQueue(amqp_url, queue=queue_name)
    await queue.start()
    await queue.enqueue("t1")
    hold_and_drop(amqp_url, queue_name)
    calls = Calls()
    process = LoopProcess(calls, asyncio.get_running_loop())
    worker = CeleryWorker(amqp_url, process, queue=queue_name, max_attempts=1)
    with consuming(worker):
        await wait_given_up(process)
    assert calls.times == []
    assert "the worker stopped" in process.given_up[0][1].message
    assert await dead_letters(queue) == 1
    await queue.aclose()


@pytest.fixture(scope="module")
def misbehaving_worker(
    amqp_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    """A prefork worker process (tests/tasks/celery/worker_main.py): its queue and log."""
    name = f"sam3-test-prefork-{os.getpid()}"
    log = tmp_path_factory.mktemp("prefork") / "jobs.log"
    log.touch()
    command = [sys.executable, "-m", "tests.tasks.celery.worker_main", amqp_url, name, str(log)]
    with subprocess.Popen(command, cwd=REPO, start_new_session=True) as worker:
        try:
            yield name, log
        finally:
            os.killpg(worker.pid, 9)
            worker.wait(10)
            delete_queues(amqp_url, name)


def lines_about(log: Path, task_id: str, *, until: str, timeout_s: float = 20) -> list[str]:
    """The log lines about `task_id`, once one starts with `until`."""
    deadline = time.monotonic() + timeout_s
    while True:
        lines = [line for line in log.read_text().splitlines() if f" {task_id}" in line]
        if any(line.startswith(until) for line in lines):
            return lines
        assert time.monotonic() < deadline, f"no {until!r} for {task_id}: {lines}"
        time.sleep(0.1)


@pytest.mark.amqp
@pytest.mark.slow
async def test_a_job_that_kills_its_process_is_given_up_after_the_bounded_attempts(
    amqp_url: str, misbehaving_worker: tuple[str, Path]
) -> None:
    name, log = misbehaving_worker
    queue = CeleryQueue(amqp_url, queue=name)
    await queue.start()
    await queue.enqueue("crash-1")
    lines = await asyncio.to_thread(lines_about, log, "crash-1", until="give_up")
    runs = [line for line in lines if line.startswith("run")]
    assert len(runs) == MAX_ATTEMPTS
    assert len({run.split()[2] for run in runs}) == MAX_ATTEMPTS  # each in a new child
    assert lines[-1] == "give_up crash-1 internal_error"
    await queue.enqueue("ok-1")  # the worker still serves
    await asyncio.to_thread(lines_about, log, "ok-1", until="run")
    await asyncio.sleep(0.3)
    assert await dead_letters(queue) >= 1
    await queue.aclose()


@pytest.mark.amqp
@pytest.mark.slow
async def test_time_limits_end_a_job_that_runs_too_long(
    amqp_url: str, misbehaving_worker: tuple[str, Path]
) -> None:
    name, log = misbehaving_worker
    queue = CeleryQueue(amqp_url, queue=name)
    await queue.start()
    await queue.enqueue("slow-1")
    lines = await asyncio.to_thread(lines_about, log, "slow-1", until="give_up")
    assert lines == [lines[0], "give_up slow-1 timed_out"]  # soft limit: cancelled, failed
    await queue.enqueue("hang-1")
    lines = await asyncio.to_thread(lines_about, log, "hang-1", until="give_up")
    runs = [line for line in lines if line.startswith("run")]
    assert len(runs) == MAX_ATTEMPTS  # the hard limit killed each run's process
    assert lines[-1] == "give_up hang-1 internal_error"
    await queue.aclose()
