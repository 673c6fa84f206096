"""The ShareStore contract, run against SQLite and a fresh PostgreSQL database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sam3_service.errors import NotFound
from sam3_service.tasks import ShareRecord, ShareStore, open_share_store, open_task_store

EXPIRES = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def shares(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ShareStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'tasks.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    tasks = await open_task_store(url)  # brings the schema up to date
    await tasks.aclose()
    opened = open_share_store(url)
    yield opened
    await opened.aclose()


async def test_a_share_comes_back_as_stored(shares: ShareStore) -> None:
    share = ShareRecord("s1", "t1", "alice", "k1", expires_at=EXPIRES)
    await shares.add_share(share)
    assert await shares.get_share("s1") == share


async def test_deleting_a_tasks_shares_ends_them_all(shares: ShareStore) -> None:
    for share_id in ("s1", "s2"):
        await shares.add_share(ShareRecord(share_id, "t1", "alice", None, expires_at=EXPIRES))
    await shares.add_share(ShareRecord("s3", "t2", "alice", None, expires_at=EXPIRES))
    assert await shares.delete_shares("t1") == 2
    for share_id in ("s1", "s2", "never"):
        with pytest.raises(NotFound):
            await shares.get_share(share_id)
    assert (await shares.get_share("s3")).task_id == "t2"
    assert await shares.delete_shares("t1") == 0
