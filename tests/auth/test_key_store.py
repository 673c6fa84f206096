"""The KeyStore contract, run against SQLite and a fresh PostgreSQL database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sam3_service.auth import SECRET_PREFIX, KeyStore, Scope, open_key_store
from sam3_service.database import upgrade_database
from sam3_service.errors import NotFound


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def keys(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[KeyStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'sam3.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    upgrade_database(url)
    store = open_key_store(url, default_rate_per_min=42)
    yield store
    await store.aclose()


async def test_a_new_key_is_found_by_its_secret(keys: KeyStore) -> None:
    before = datetime.now(UTC)
    new = await keys.create(scope=Scope.USER, owner="alice", rate_per_min=7)
    assert new.secret.startswith(SECRET_PREFIX) and len(new.secret) >= 40
    assert (new.key.owner, new.key.scope, new.key.rate_per_min) == ("alice", Scope.USER, 7)
    assert before <= new.key.created_at <= datetime.now(UTC)
    assert await keys.lookup(new.secret) == new.key


async def test_defaults_owner_to_the_key_id_and_rate_to_the_store_default(keys: KeyStore) -> None:
    new = await keys.create(scope=Scope.ADMIN)
    assert new.key.owner == new.key.id
    assert new.key.rate_per_min == 42
    assert new.key.scope is Scope.ADMIN


async def test_secrets_and_ids_are_unique(keys: KeyStore) -> None:
    made = [await keys.create(scope=Scope.USER, owner="same") for _ in range(5)]
    assert len({new.secret for new in made}) == len({new.key.id for new in made}) == 5


async def test_an_unknown_secret_finds_nothing(keys: KeyStore) -> None:
    new = await keys.create(scope=Scope.USER)
    assert await keys.lookup(new.secret + "x") is None
    assert await keys.lookup(SECRET_PREFIX) is None


async def test_revoking_keeps_the_key_findable_but_marked(keys: KeyStore) -> None:
    new = await keys.create(scope=Scope.USER)
    revoked = await keys.revoke(new.key.id)
    assert revoked.revoked_at is not None and revoked.revoked_at.tzinfo == UTC
    assert await keys.lookup(new.secret) == revoked


async def test_revoking_again_keeps_the_first_time(keys: KeyStore) -> None:
    new = await keys.create(scope=Scope.USER)
    first = await keys.revoke(new.key.id)
    assert await keys.revoke(new.key.id) == first


async def test_revoking_an_unknown_key_raises_not_found(keys: KeyStore) -> None:
    with pytest.raises(NotFound):
        await keys.revoke("no-such-key")


async def test_list_is_oldest_first_and_hides_revoked_keys_unless_asked(keys: KeyStore) -> None:
    first = await keys.create(scope=Scope.USER, owner="a")
    second = await keys.create(scope=Scope.ADMIN, owner="b")
    third = await keys.create(scope=Scope.USER, owner="c")
    revoked = await keys.revoke(second.key.id)
    assert await keys.list() == [first.key, third.key]
    assert await keys.list(include_revoked=True) == [first.key, revoked, third.key]


@pytest.mark.parametrize("fields", [{"rate_per_min": 0}, {"owner": " "}])
async def test_create_refuses_a_zero_rate_or_an_empty_owner(
    keys: KeyStore, fields: dict[str, object]
) -> None:
    with pytest.raises(ValueError):
        await keys.create(scope=Scope.USER, **fields)  # type: ignore[arg-type]
    assert await keys.list() == []
