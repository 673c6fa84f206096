"""SqlModelRegistry beyond the contract: its migration, its URLs, a restart."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from sam3_service.database import upgrade_database
from sam3_service.database.migrate import alembic_config
from sam3_service.errors import ConfigError
from sam3_service.hub import (
    EventKind,
    ModelEvent,
    ModelVersion,
    RoutingTable,
    SourceKind,
    open_model_registry,
)
from sam3_service.tasks import TaskRecord, open_task_store

MODEL_TABLES = {"model_versions", "model_events", "model_routing"}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'sam3.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


def table_names(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return set(sa.inspect(conn).get_table_names())
    finally:
        engine.dispose()


def downgrade(url: str, revision: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), revision)
    finally:
        engine.dispose()


async def test_0004_adds_the_tables_to_a_database_with_tasks(database_url: str) -> None:
    upgrade_database(database_url, revision="0003")
    assert not MODEL_TABLES & table_names(database_url)
    tasks = await open_task_store(database_url)  # upgrades to the newest revision
    await tasks.create(TaskRecord(id="t1", kind="image", input_key="images/x", params={}))
    assert MODEL_TABLES <= table_names(database_url)
    downgrade(database_url, "0003")
    assert not MODEL_TABLES & table_names(database_url)
    assert (await tasks.get("t1")).input_key == "images/x"
    await tasks.aclose()


async def test_the_registry_and_routing_survive_a_restart(database_url: str) -> None:
    first = await open_model_registry(database_url)
    model = ModelVersion("aaaaaaaaaaaa", "m", SourceKind.LOCAL, "/m", "f" * 64, "float32", "cpu")
    await first.add(model, actor="op")
    table = RoutingTable(stable="aaaaaaaaaaaa")
    stored = await first.set_routing(table, expect_revision=0, event=ModelEvent(EventKind.ROUTED))
    await first.aclose()
    second = await open_model_registry(database_url)
    assert await second.routing() == stored
    assert (await second.get("aaaaaaaaaaaa")).checksum == "f" * 64
    await second.aclose()


async def test_another_database_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="sqlite:// or postgresql://"):
        await open_model_registry("redis://127.0.0.1:6379/0")
