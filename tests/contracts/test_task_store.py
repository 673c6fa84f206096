"""The TaskStore contract, run against SQLite and a fresh PostgreSQL database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from sam3_service.errors import NotFound
from sam3_service.tasks import TaskRecord, TaskStatus, TaskStore, open_task_store

T0 = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[TaskStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'tasks.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    opened = await open_task_store(url)
    yield opened
    await opened.aclose()


def record(task_id: str = "t1", **fields: object) -> TaskRecord:
    values: dict[str, object] = {
        "kind": "image",
        "input_key": f"images/{task_id}",
        "params": {"text": "a cat", "boxes": [[1, 2, 3, 4]], "nested": {"k": [True, None]}},
        "created_at": T0,
    }
    return TaskRecord(id=task_id, **(values | fields))  # type: ignore[arg-type]


async def test_create_then_get_returns_an_equal_record(store: TaskStore) -> None:
    task = record(owner="alice", timings_ms={"decode": 1.5}, error={"code": "x", "message": "y"})
    stored, created = await store.create(task)
    assert created and stored == task
    assert await store.get("t1") == task


async def test_create_is_idempotent_on_the_id(store: TaskStore) -> None:
    await store.create(record(params={"text": "first"}))
    stored, created = await store.create(record(params={"text": "second"}))
    assert not created
    assert stored.params == {"text": "first"}


async def test_get_of_an_unknown_id_raises_not_found(store: TaskStore) -> None:
    with pytest.raises(NotFound):
        await store.get("nope")


async def test_times_come_back_aware_and_in_utc(store: TaskStore) -> None:
    paris = timezone(timedelta(hours=1))
    await store.create(record(created_at=T0.astimezone(paris)))
    updated = await store.update("t1", started_at=T0.astimezone(paris))
    fetched = await store.get("t1")
    assert updated is not None and updated.started_at == T0
    assert fetched.created_at == T0 and fetched.created_at.tzinfo == UTC
    assert fetched.started_at is not None and fetched.started_at.tzinfo == UTC


async def test_update_changes_and_returns_the_record(store: TaskStore) -> None:
    await store.create(record())
    updated = await store.update(
        "t1",
        status=TaskStatus.SUCCEEDED,
        progress=1.0,
        result_key="results/t1/result.json",
        timings_ms={"total": 12.5},
        attempts=1,
        finished_at=T0 + timedelta(seconds=3),
    )
    assert updated == await store.get("t1")
    assert updated.status is TaskStatus.SUCCEEDED and updated.status.finished
    assert (updated.progress, updated.result_key, updated.attempts) == (
        1.0,
        "results/t1/result.json",
        1,
    )
    assert updated.timings_ms == {"total": 12.5}
    assert updated.finished_at == T0 + timedelta(seconds=3)


async def test_update_with_expect_only_moves_a_matching_status(store: TaskStore) -> None:
    await store.create(record())
    running = await store.update("t1", expect={TaskStatus.QUEUED}, status=TaskStatus.RUNNING)
    assert running is not None and running.status is TaskStatus.RUNNING
    again = await store.update("t1", expect={TaskStatus.QUEUED}, status=TaskStatus.RUNNING)
    assert again is None
    assert (await store.get("t1")).status is TaskStatus.RUNNING


async def test_update_with_expect_and_no_fields_checks_the_status(store: TaskStore) -> None:
    await store.create(record())
    assert await store.update("t1", expect={TaskStatus.RUNNING}) is None
    assert await store.update("t1", expect={TaskStatus.QUEUED}) == record()


async def test_update_can_clear_a_field(store: TaskStore) -> None:
    await store.create(record(error={"code": "busy", "message": "later"}))
    updated = await store.update("t1", error=None)
    assert updated is not None and updated.error is None


async def test_update_of_an_unknown_id_raises_not_found(store: TaskStore) -> None:
    with pytest.raises(NotFound):
        await store.update("nope", progress=0.5)
    with pytest.raises(NotFound):
        await store.update("nope", expect={TaskStatus.QUEUED}, status=TaskStatus.RUNNING)


@pytest.mark.parametrize("field", ["id", "owner", "params", "input_key", "created_at", "bogus"])
async def test_update_refuses_fields_that_are_not_mutable(store: TaskStore, field: str) -> None:
    await store.create(record())
    change: dict[str, Any] = {field: "x"}
    with pytest.raises(ValueError):
        await store.update("t1", **change)


async def test_naive_datetimes_are_refused(store: TaskStore) -> None:
    with pytest.raises(ValueError):
        await store.create(record(created_at=datetime(2025, 1, 1)))
    await store.create(record())
    with pytest.raises(ValueError):
        await store.update("t1", started_at=datetime(2025, 1, 1))


async def test_list_returns_the_newest_first(store: TaskStore) -> None:
    for n in range(5):
        owner = "alice" if n % 2 == 0 else "bob"
        await store.create(record(f"t{n}", owner=owner, created_at=T0 + timedelta(seconds=n)))
    assert [t.id for t in await store.list()] == ["t4", "t3", "t2", "t1", "t0"]
    assert [t.id for t in await store.list(limit=2)] == ["t4", "t3"]
    assert [t.id for t in await store.list(owner="alice")] == ["t4", "t2", "t0"]
    assert [t.id for t in await store.list(owner="bob", limit=1)] == ["t3"]
    assert await store.list(owner="nobody") == []


async def test_list_filters_by_status(store: TaskStore) -> None:
    for n, status in enumerate([TaskStatus.QUEUED, TaskStatus.RUNNING, TaskStatus.SUCCEEDED]):
        await store.create(record(f"t{n}", status=status, created_at=T0 + timedelta(seconds=n)))
    unfinished = await store.list(statuses={TaskStatus.QUEUED, TaskStatus.RUNNING})
    assert [t.id for t in unfinished] == ["t1", "t0"]
    assert await store.list(statuses=set()) == []


async def test_a_client_id_is_unique_per_owner_only(store: TaskStore) -> None:
    alice, created = await store.create(record("a1", owner="alice", client_id="mine-0001"))
    bob, bob_created = await store.create(record("b1", owner="bob", client_id="mine-0001"))
    assert created and bob_created and (alice.id, bob.id) == ("a1", "b1")
    again, again_created = await store.create(record("a2", owner="alice", client_id="mine-0001"))
    assert not again_created and again.id == "a1"
    assert (await store.find("mine-0001", owner="alice")).id == "a1"
    assert (await store.find("mine-0001", owner="bob")).id == "b1"


async def test_find_reaches_only_the_owners_task(store: TaskStore) -> None:
    await store.create(record("t1", owner="alice"))
    await store.create(record("t2", owner="alice", client_id="named-0001"))
    assert (await store.find("t1", owner="alice")).id == "t1"
    assert (await store.find("t1", owner=None)).id == "t1"  # an admin sees every owner's
    for name in ("t1", "named-0001", "t2"):
        with pytest.raises(NotFound) as theirs:
            await store.find(name, owner="bob")
        with pytest.raises(NotFound) as never:
            await store.find("x" + name, owner="bob")
        assert str(theirs.value).replace(name, "?") == str(never.value).replace("x" + name, "?")


async def test_uploads_are_recorded_per_owner(store: TaskStore) -> None:
    sha = "ab" * 32
    await store.add_upload("alice", sha)
    await store.add_upload("alice", sha)  # again: no error
    assert await store.has_upload("alice", sha)
    assert not await store.has_upload("bob", sha)
    assert not await store.has_upload("alice", "cd" * 32)
