"""SqlTaskStore beyond the contract: racing workers, migrations, URLs, a database that is down."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from sam3_service.database import metadata, upgrade_database
from sam3_service.errors import BackendUnavailable, ConfigError
from sam3_service.tasks import TaskRecord, TaskStatus, open_task_store
from sam3_service.tasks.sql_store import SqlTaskStore

HEAD = "0004"  # the newest revision in src/sam3_service/database/migrations/versions


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'tasks.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


async def test_only_one_of_many_racing_workers_starts_a_task(database_url: str) -> None:
    first = await open_task_store(database_url)
    second = SqlTaskStore(database_url)  # its own engine and pool, as in another process
    await first.create(TaskRecord(id="t1", kind="image", input_key="images/t1", params={}))
    claims = [
        store.update("t1", expect={TaskStatus.QUEUED}, status=TaskStatus.RUNNING, attempts=n)
        for n, store in enumerate([first, second] * 8)
    ]
    results = await asyncio.gather(*claims)
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert await first.get("t1") == winners[0]
    await first.aclose()
    await second.aclose()


def test_upgrading_again_changes_nothing(database_url: str) -> None:
    upgrade_database(database_url)
    upgrade_database(database_url)
    assert schema_revisions(database_url) == [HEAD]


async def test_processes_starting_together_all_migrate_safely(database_url: str) -> None:
    await asyncio.gather(*(asyncio.to_thread(upgrade_database, database_url) for _ in range(4)))
    assert schema_revisions(database_url) == [HEAD]


def test_the_migrations_build_exactly_the_tables_the_stores_use(database_url: str) -> None:
    upgrade_database(database_url)
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
        index = sa.inspect(conn).get_indexes("tasks")[0]
    engine.dispose()
    assert (index["name"], index["column_names"]) == (
        "ix_tasks_owner_created_at",
        ["owner", "created_at"],
    )


async def test_the_sqlite_folder_is_created(tmp_path: Path) -> None:
    path = tmp_path / "not" / "yet" / "tasks.db"
    store = await open_task_store(f"sqlite:///{path}")
    await store.aclose()
    assert path.is_file()


@pytest.mark.postgres
async def test_a_plain_postgresql_url_uses_psycopg(postgres_url: str) -> None:
    store = await open_task_store(postgres_url.replace("postgresql+psycopg://", "postgresql://"))
    assert await store.list() == []
    await store.aclose()


async def test_an_unreachable_database_raises_backend_unavailable() -> None:
    started = time.monotonic()
    with pytest.raises(BackendUnavailable):
        await open_task_store("postgresql+psycopg://postgres@127.0.0.1:1/none")
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    "url", ["mysql://db/tasks", "sqlite://", "sqlite:///:memory:", "postgresql+asyncpg://h/db", ""]
)
async def test_other_urls_are_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError):
        await open_task_store(url)


def schema_revisions(url: str) -> list[str]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        revisions = list(conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars())
    engine.dispose()
    return revisions


def test_the_owner_migration_keeps_every_owners_images_reachable(database_url: str) -> None:
    """Tasks made before revision 0003 give their owners the record of their uploads."""
    from alembic import command
    from alembic.config import Config

    from sam3_service.database import engine_for

    engine = engine_for(database_url)
    try:
        with engine.begin() as conn:
            config = Config()
            config.set_main_option("script_location", str(Path(metadata_folder()) / "migrations"))
            config.attributes["connection"] = conn
            command.upgrade(config, "0002")
            for task_id, owner, sha in (
                ("t1", "alice", "a" * 64),
                ("t2", "alice", "a" * 64),
                ("t3", "bob", "b" * 64),
            ):
                conn.execute(
                    sa.text(
                        "INSERT INTO tasks (id, kind, input_key, params, owner, status, progress,"
                        " timings_ms, attempts, created_at) VALUES (:id, 'image', :key, '{}',"
                        " :owner, 'succeeded', 1, '{}', 0, :now)"
                    ),
                    {"id": task_id, "key": f"images/{sha}", "owner": owner, "now": "2025-01-01"},
                )
            command.upgrade(config, "head")
            uploads = set(conn.execute(sa.text("SELECT owner, sha256 FROM uploads")).all())
    finally:
        engine.dispose()
    assert uploads == {("alice", "a" * 64), ("bob", "b" * 64)}


def metadata_folder() -> str:
    import sam3_service.database

    return str(Path(sam3_service.database.__file__).parent)
