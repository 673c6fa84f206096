"""A synchronous request waits for its task's notice, not by reading the store 20 times a
second; a lost notice costs at most one slow poll."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from sam3_service.cache.redis_notifier import RedisNotifier
from sam3_service.domain import jobs, waiting
from sam3_service.domain.services import Services
from sam3_service.errors import TimedOut
from sam3_service.runtime import open_services
from sam3_service.tasks import TaskRecord, TaskStatus, TaskStore
from tests.helpers import make_settings
from tests.servers import delete_queues, free_port

SLOW_POLL_S = 60.0  # longer than any test may take: an answer before it came from a notice


class CountingStore:
    """Counts the reads of a task store."""

    def __init__(self, inner: TaskStore) -> None:
        self.inner = inner
        self.reads = 0

    async def get(self, task_id: str) -> TaskRecord:
        self.reads += 1
        return await self.inner.get(task_id)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.fixture
async def services(tiny_model_dir: Path, tmp_path: Path) -> AsyncIterator[Services]:
    """The embedded backends, without a model: the test finishes the tasks itself."""
    settings = make_settings(tiny_model_dir, tmp_path)
    async with open_services(settings, start_model=False) as opened:
        yield opened


async def new_task(services: Services, task_id: str = "task-1") -> str:
    record = TaskRecord(id=task_id, kind="image", input_key="images/x", params={})
    await services.store.create(record)
    return task_id


async def finish_soon(store: TaskStore, task_id: str, delay_s: float = 0.1) -> None:
    await asyncio.sleep(delay_s)
    await store.update(task_id, status=TaskStatus.SUCCEEDED)


async def test_the_notice_wakes_the_waiter_without_polling(services: Services) -> None:
    task_id = await new_task(services)
    counting = CountingStore(services.store)
    finishing = asyncio.create_task(finish_soon(services.store, task_id))
    async with asyncio.timeout(SLOW_POLL_S / 2):
        record = await waiting.wait_finished(
            counting, services.notifier, task_id, timeout_s=SLOW_POLL_S, poll_s=SLOW_POLL_S
        )
    await finishing
    assert record.status is TaskStatus.SUCCEEDED
    assert counting.reads == 2  # once before the notice, once after


async def test_jobs_wait_uses_the_notice(services: Services) -> None:
    task_id = await new_task(services)
    services.wait_poll_s = SLOW_POLL_S
    finishing = asyncio.create_task(finish_soon(services.store, task_id))
    async with asyncio.timeout(SLOW_POLL_S / 2):
        task = await services.store.get(task_id)
        record = await jobs.wait(services, task, timeout_s=SLOW_POLL_S)
    await finishing
    assert record.status is TaskStatus.SUCCEEDED


async def test_a_cancelled_task_wakes_its_waiter(services: Services) -> None:
    task_id = await new_task(services)
    waiter = asyncio.create_task(
        waiting.wait_finished(
            services.store, services.notifier, task_id, timeout_s=30, poll_s=SLOW_POLL_S
        )
    )
    await asyncio.sleep(0.05)
    await jobs.cancel(services, task_id)
    async with asyncio.timeout(10):
        assert (await waiter).status is TaskStatus.CANCELLED


async def test_a_lost_notice_costs_one_poll(services: Services) -> None:
    task_id = await new_task(services)
    finishing = asyncio.create_task(finish_soon(services.store, task_id))
    async with asyncio.timeout(10):
        record = await waiting.wait_finished(
            services.store, None, task_id, timeout_s=30, poll_s=0.05
        )
    await finishing
    assert record.status is TaskStatus.SUCCEEDED


async def test_while_redis_is_down_a_waiter_reads_often(services: Services) -> None:
    """No notice can come: the slow fallback poll would cost every request a second."""
    dead = RedisNotifier(f"redis://127.0.0.1:{free_port()}/0", retry_s=0.05)
    task_id = await new_task(services)
    finishing = asyncio.create_task(finish_soon(services.store, task_id))
    try:
        async with asyncio.timeout(SLOW_POLL_S / 2):
            record = await waiting.wait_finished(
                services.store, dead, task_id, timeout_s=SLOW_POLL_S, poll_s=SLOW_POLL_S
            )
        assert not dead.listening
    finally:
        await finishing
        await dead.aclose()
    assert record.status is TaskStatus.SUCCEEDED


@pytest.mark.amqp
async def test_without_redis_a_queued_api_hears_no_notice_and_reads_often(
    tiny_model_dir: Path, tmp_path: Path, amqp_url: str
) -> None:
    queue = f"test-waiting-{uuid.uuid4().hex[:8]}"
    settings = make_settings(tiny_model_dir, tmp_path, broker_url=amqp_url, broker_queue=queue)
    try:
        async with open_services(settings, start_model=False) as api:
            assert api.notifier is None  # the workers' notices could not reach it
    finally:
        delete_queues(amqp_url, queue)


async def test_a_task_that_does_not_finish_times_out(services: Services) -> None:
    task_id = await new_task(services)
    with pytest.raises(TimedOut) as caught:
        await waiting.wait_finished(
            services.store, services.notifier, task_id, timeout_s=0.2, poll_s=0.05
        )
    assert caught.value.task_id == task_id


async def test_an_update_that_does_not_finish_sends_no_notice(services: Services) -> None:
    task_id = await new_task(services)
    async with services.notifier.listen(waiting.NOTICE_PREFIX + task_id) as notice:  # type: ignore[union-attr]
        await services.store.update(task_id, status=TaskStatus.RUNNING)
        await services.store.update(task_id, progress=0.5)
        assert not notice.is_set()
        await services.store.update(task_id, status=TaskStatus.FAILED)
        assert notice.is_set()


@pytest.mark.redis
async def test_a_notice_crosses_processes_through_redis(
    tiny_model_dir: Path, tmp_path: Path, redis_url: str
) -> None:
    """The API's services wait; a worker's services (their own Redis connection, the same
    database) finish the task."""
    settings = make_settings(tiny_model_dir, tmp_path, redis_url=redis_url)
    async with (
        open_services(settings, start_model=False) as api,
        open_services(settings, start_model=False) as worker,
    ):
        assert api.wait_poll_s == 1.0  # Redis carries the notices: polling is the fallback
        task_id = await new_task(api, task_id=f"redis-{tmp_path.name}")
        counting = CountingStore(api.store)
        finishing = asyncio.create_task(finish_soon(worker.store, task_id, delay_s=0.3))
        async with asyncio.timeout(SLOW_POLL_S / 2):
            record = await waiting.wait_finished(
                counting, api.notifier, task_id, timeout_s=SLOW_POLL_S, poll_s=SLOW_POLL_S
            )
        await finishing
        assert record.status is TaskStatus.SUCCEEDED
        assert counting.reads == 2
