"""JobRunner under the embedded queue: a transient fault is the task's outcome (that queue does
not retry), and tasks an earlier process left unfinished are listed back in `queued`."""

from __future__ import annotations

import asyncio

from sam3_service.domain import jobs
from sam3_service.domain.job_runner import JobRunner
from sam3_service.domain.params import SegmentParams
from sam3_service.domain.services import Services
from sam3_service.tasks import TaskRecord, TaskStatus
from tests.domain.test_jobs import UnreachableBlobs
from tests.helpers import png_bytes


async def finished(services: Services, task_id: str) -> TaskRecord:
    async with asyncio.timeout(30):
        while not (record := await services.store.get(task_id)).status.finished:
            await asyncio.sleep(0.02)
    return record


async def test_a_transient_fault_fails_a_task_of_the_embedded_queue(services: Services) -> None:
    services.blobs = UnreachableBlobs(services.blobs)  # type: ignore[assignment]
    record = await jobs.submit(services, params=SegmentParams(prompt="cat"), data=png_bytes())
    record = await finished(services, record.id)
    assert (record.status, record.attempts) == (TaskStatus.FAILED, 1)
    assert record.error == {"code": "backend_unavailable", "message": "S3 cannot be reached"}


async def test_unfinished_tasks_are_listed_oldest_first_back_in_queued(
    services: Services,
) -> None:
    params = SegmentParams(prompt="cat")
    records = [
        await jobs.submit(services, params=params, data=png_bytes(64 + n), enqueue=False)
        for n in range(3)
    ]
    await services.store.update(records[1].id, status=TaskStatus.RUNNING)
    await jobs.cancel(services, records[2].id)
    runner = JobRunner(services, model_wait_s=1)
    assert await runner.unfinished(10) == [records[0].id, records[1].id]
    assert (await services.store.get(records[1].id)).status is TaskStatus.QUEUED
    assert await runner.unfinished(1) == [records[1].id]  # the newest ones, within the limit
