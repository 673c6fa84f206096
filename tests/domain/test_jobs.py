"""Jobs beyond the API tests: de-duplication of requests in flight, transient faults under a
queue that retries, and giving a task up."""

from __future__ import annotations

import pytest

from sam3_service.domain import jobs
from sam3_service.domain.params import SegmentParams
from sam3_service.domain.services import Services
from sam3_service.errors import BackendUnavailable, Sam3Error
from sam3_service.storage import BlobStore
from sam3_service.tasks import TaskStatus
from tests.helpers import png_bytes

CAT = SegmentParams(prompt="cat")


async def queued(services: Services, *, owner: str = "alice", **args: object) -> str:
    record = await jobs.submit(
        services, params=CAT, data=png_bytes(), owner=owner, enqueue=False, **args
    )
    return record.public_id


async def test_the_same_request_in_flight_gets_the_first_task(services: Services) -> None:
    first = await queued(services)
    assert await queued(services) == first


async def test_nobody_gets_another_owners_task(services: Services) -> None:
    assert await queued(services, owner="alice") != await queued(services, owner="bob")


async def test_a_callers_own_task_id_is_never_joined(services: Services) -> None:
    await queued(services)
    assert await queued(services, task_id="mine-0001") == "mine-0001"


async def test_a_client_task_id_belongs_to_its_owner(services: Services) -> None:
    alice = await jobs.submit(
        services, params=CAT, data=png_bytes(), owner="alice", task_id="same-0001", enqueue=False
    )
    bob = await jobs.submit(
        services, params=CAT, data=png_bytes(), owner="bob", task_id="same-0001", enqueue=False
    )
    assert alice.id != bob.id and (alice.owner, bob.owner) == ("alice", "bob")
    assert (await jobs.get(services, "same-0001", owner="alice")).id == alice.id
    assert (await jobs.get(services, "same-0001", owner="bob")).id == bob.id
    again = await jobs.submit(
        services, params=CAT, data=png_bytes(), owner="bob", task_id="same-0001", enqueue=False
    )
    assert again.id == bob.id


async def test_a_task_that_ended_is_not_joined(services: Services) -> None:
    first = await queued(services)
    await jobs.cancel(services, first)
    assert await queued(services) != first


class UnreachableBlobs:
    """The blob store while S3 cannot be reached: reads fail, the rest works."""

    def __init__(self, inner: BlobStore) -> None:
        self.inner = inner

    async def get(self, key: str) -> bytes:
        raise BackendUnavailable("S3 cannot be reached")

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


async def test_a_transient_fault_returns_the_task_to_its_queue(services: Services) -> None:
    """The queue decides: it tries again (Celery) or gives up (the in-process queue, see
    tests/domain/test_job_runner.py)."""
    task_id = await queued(services)
    services.blobs = UnreachableBlobs(services.blobs)  # type: ignore[assignment]
    for attempt in (1, 2):
        with pytest.raises(BackendUnavailable):
            await jobs.run(services, task_id)
        record = await services.store.get(task_id)
        assert (record.status, record.attempts) == (TaskStatus.QUEUED, attempt)


class UnwritableBlobs(UnreachableBlobs):
    """The blob store while S3 takes no writes: reads work, writes fail."""

    async def get(self, key: str) -> bytes:
        return await self.inner.get(key)

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        raise BackendUnavailable("S3 takes no writes")


async def test_a_transient_fault_inline_fails_the_task_and_is_raised(services: Services) -> None:
    services.blobs = UnwritableBlobs(services.blobs)  # type: ignore[assignment]
    with pytest.raises(BackendUnavailable, match="S3 takes no writes"):
        await jobs.segment_now(services, params=CAT, data=png_bytes(), owner="alice")
    [record] = await services.store.list()
    assert (record.status, record.attempts) == (TaskStatus.FAILED, 1)
    assert record.error == {"code": "backend_unavailable", "message": "S3 takes no writes"}


async def test_giving_up_fails_an_unfinished_task_and_frees_its_request(
    services: Services,
) -> None:
    task_id = await queued(services)
    await jobs.give_up(services, task_id, Sam3Error("the worker stopped 4 times"))
    record = await services.store.get(task_id)
    assert record.status is TaskStatus.FAILED
    assert record.error == {"code": "internal_error", "message": "the worker stopped 4 times"}
    assert await queued(services) != task_id
    await jobs.give_up(services, task_id, Sam3Error("again"))  # a finished task stays as it is
    assert (await services.store.get(task_id)).error == record.error
