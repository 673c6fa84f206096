"""SqlKeyStore specifics: the migration matches the table, only hashes are stored, errors map."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import sqlalchemy as sa

from sam3_service.auth import Scope
from sam3_service.auth.sql_keys import SqlKeyStore, api_keys
from sam3_service.database import upgrade_database
from sam3_service.errors import BackendUnavailable


@pytest.fixture
def url(tmp_path: Path) -> str:
    database_url = f"sqlite:///{tmp_path / 'sam3.db'}"
    upgrade_database(database_url)
    return database_url


def test_the_migration_makes_the_table_the_store_uses(url: str) -> None:
    engine = sa.create_engine(url)
    inspector = sa.inspect(engine)
    assert [c["name"] for c in inspector.get_columns("api_keys")] == list(api_keys.c.keys())
    indexes = {i["name"]: i for i in inspector.get_indexes("api_keys")}
    assert indexes["ux_api_keys_key_hash"]["unique"]
    engine.dispose()


async def test_only_the_sha256_of_a_key_is_stored(url: str) -> None:
    store = SqlKeyStore(url)
    new = await store.create(scope=Scope.USER, owner="alice")
    await store.aclose()
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        row = conn.execute(sa.select(api_keys)).one()._mapping
    engine.dispose()
    assert row["key_hash"] == hashlib.sha256(new.secret.encode()).hexdigest()
    assert new.secret not in {str(value) for value in row.values()}


async def test_an_unreachable_database_raises_backend_unavailable() -> None:
    store = SqlKeyStore("postgresql://nobody@127.0.0.1:1/keys")
    with pytest.raises(BackendUnavailable, match="database cannot be reached"):
        await store.lookup("sam3_x")
    await store.aclose()
