"""The ModelRegistry contract, run against SQLite and a fresh PostgreSQL database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sam3_service.errors import Conflict, NotFound
from sam3_service.hub import (
    EventKind,
    ModelEvent,
    ModelRegistry,
    ModelState,
    ModelVersion,
    RoutingTable,
    SourceKind,
    open_model_registry,
)

T0 = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def registry(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ModelRegistry]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'models.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    opened = await open_model_registry(url)
    yield opened
    await opened.aclose()


def model(version: str = "aaaaaaaaaaaa", **fields: object) -> ModelVersion:
    values: dict[str, object] = {
        "name": "tiny-random",
        "source_kind": SourceKind.LOCAL,
        "source": f"/models/{version}",
        "checksum": version * 5 + "abcd",
        "dtype": "float32",
        "device": "cpu",
        "created_at": T0,
    }
    return ModelVersion(version=version, **(values | fields))  # type: ignore[arg-type]


async def add_all(registry: ModelRegistry, *versions: str) -> None:
    for offset, version in enumerate(versions):
        await registry.add(model(version, created_at=T0 + timedelta(seconds=offset)), actor="op")


async def test_add_then_get_returns_an_equal_version(registry: ModelRegistry) -> None:
    hub = model(
        "0123456789ab",
        name="facebook/sam3",
        source_kind=SourceKind.HUB,
        source="facebook/sam3",
        revision="0123456789ab" + "c" * 28,
        dtype="bfloat16",
        device="cuda",
    )
    stored, created = await registry.add(hub, actor="alice")
    assert created and stored == hub
    assert await registry.get("0123456789ab") == hub


async def test_adding_a_version_again_returns_the_stored_one(registry: ModelRegistry) -> None:
    await registry.add(model(dtype="float32"), actor="op")
    stored, created = await registry.add(model(dtype="bfloat16"), actor="op")
    assert not created and stored.dtype == "float32"
    assert [e.kind for e in await registry.events()] == [EventKind.REGISTERED]


async def test_an_unknown_version_is_not_found(registry: ModelRegistry) -> None:
    with pytest.raises(NotFound, match="nope"):
        await registry.get("nope")
    with pytest.raises(NotFound):
        await registry.set_state("nope", ModelState.READY)


async def test_list_gives_the_oldest_first(registry: ModelRegistry) -> None:
    await add_all(registry, "bbbbbbbbbbbb", "aaaaaaaaaaaa")
    assert [m.version for m in await registry.versions()] == ["bbbbbbbbbbbb", "aaaaaaaaaaaa"]


async def test_a_state_change_is_logged_with_its_reason(registry: ModelRegistry) -> None:
    await add_all(registry, "aaaaaaaaaaaa")
    loading = await registry.set_state("aaaaaaaaaaaa", ModelState.LOADING, actor="worker-1")
    ready = await registry.set_state(
        "aaaaaaaaaaaa", ModelState.READY, expect={ModelState.LOADING}, reason="1.2 GiB"
    )
    assert loading is not None and loading.state is ModelState.LOADING
    assert ready == await registry.get("aaaaaaaaaaaa") and ready.state is ModelState.READY
    events = await registry.events("aaaaaaaaaaaa")
    assert [e.kind for e in events] == [EventKind.LOADED, EventKind.LOADING, EventKind.REGISTERED]
    assert (events[0].reason, events[1].actor) == ("1.2 GiB", "worker-1")
    assert events[-1].actor == "op" and events[0].at.tzinfo == UTC


async def test_an_unexpected_state_changes_nothing(registry: ModelRegistry) -> None:
    await add_all(registry, "aaaaaaaaaaaa")
    assert await registry.set_state("aaaaaaaaaaaa", ModelState.READY, expect=set()) is None
    changed = await registry.set_state(
        "aaaaaaaaaaaa", ModelState.DRAINING, expect={ModelState.READY}
    )
    assert changed is None
    assert (await registry.get("aaaaaaaaaaaa")).state is ModelState.REGISTERED
    assert len(await registry.events()) == 1


async def test_events_are_filtered_and_limited(registry: ModelRegistry) -> None:
    await add_all(registry, "aaaaaaaaaaaa", "bbbbbbbbbbbb")
    await registry.set_state("bbbbbbbbbbbb", ModelState.FAILED, reason="out of memory")
    assert len(await registry.events()) == 3
    assert [e.kind for e in await registry.events(limit=1)] == [EventKind.FAILED]
    assert [e.version for e in await registry.events("aaaaaaaaaaaa")] == ["aaaaaaaaaaaa"]


async def test_the_routing_table_starts_empty(registry: ModelRegistry) -> None:
    assert await registry.routing() == RoutingTable()


async def test_a_routing_table_round_trips_and_counts_its_revisions(
    registry: ModelRegistry,
) -> None:
    await add_all(registry, "aaaaaaaaaaaa", "bbbbbbbbbbbb", "cccccccccccc", "dddddddddddd")
    first = RoutingTable(stable="aaaaaaaaaaaa")
    event = ModelEvent(EventKind.PROMOTED, "aaaaaaaaaaaa", "first", "alice", at=T0)
    stored = await registry.set_routing(first, expect_revision=0, event=event)
    assert stored.revision == 1 and (stored.updated_at, stored.updated_by) == (T0, "alice")
    table = RoutingTable(
        stable="aaaaaaaaaaaa",
        canary="bbbbbbbbbbbb",
        canary_percent=12.5,
        split=(("aaaaaaaaaaaa", 3.0), ("cccccccccccc", 1.0)),
        shadow="dddddddddddd",
        shadow_percent=5.0,
    )
    routed = ModelEvent(EventKind.ROUTED, None, "canary", "bob", at=T0 + timedelta(seconds=1))
    second = await registry.set_routing(table, expect_revision=1, event=routed)
    assert second.revision == 2 and second.split == table.split
    assert await registry.routing() == second


async def test_a_stale_revision_is_a_conflict(registry: ModelRegistry) -> None:
    await add_all(registry, "aaaaaaaaaaaa", "bbbbbbbbbbbb")
    event = ModelEvent(EventKind.ROUTED)
    await registry.set_routing(RoutingTable(stable="aaaaaaaaaaaa"), expect_revision=0, event=event)
    with pytest.raises(Conflict, match="revision 0"):
        await registry.set_routing(
            RoutingTable(stable="bbbbbbbbbbbb"), expect_revision=0, event=event
        )
    assert (await registry.routing()).stable == "aaaaaaaaaaaa"
    assert len([e for e in await registry.events() if e.kind is EventKind.ROUTED]) == 1


@pytest.mark.parametrize("revision", [0, 1], ids=["first-insert", "update"])
async def test_of_racing_writers_exactly_one_wins(registry: ModelRegistry, revision: int) -> None:
    await add_all(registry, "aaaaaaaaaaaa", "bbbbbbbbbbbb")
    if revision:
        first = RoutingTable(stable="aaaaaaaaaaaa")
        await registry.set_routing(first, expect_revision=0, event=ModelEvent(EventKind.ROUTED))
    tables = [RoutingTable(stable=v) for v in ("aaaaaaaaaaaa", "bbbbbbbbbbbb")] * 4
    writes = [
        registry.set_routing(t, expect_revision=revision, event=ModelEvent(EventKind.ROUTED))
        for t in tables
    ]
    results = await asyncio.gather(*writes, return_exceptions=True)
    winners = [r for r in results if isinstance(r, RoutingTable)]
    assert len(winners) == 1
    assert all(isinstance(r, Conflict) for r in results if r not in winners), results
    assert await registry.routing() == winners[0]


async def test_an_unregistered_version_cannot_be_routed(registry: ModelRegistry) -> None:
    await add_all(registry, "aaaaaaaaaaaa")
    table = RoutingTable(stable="aaaaaaaaaaaa", canary="eeeeeeeeeeee", canary_percent=10)
    with pytest.raises(NotFound, match="eeeeeeeeeeee"):
        await registry.set_routing(table, expect_revision=0, event=ModelEvent(EventKind.ROUTED))
    assert await registry.routing() == RoutingTable()


async def test_a_new_stable_version_is_stamped_promoted(registry: ModelRegistry) -> None:
    await add_all(registry, "aaaaaaaaaaaa", "bbbbbbbbbbbb")
    promote = ModelEvent(EventKind.PROMOTED, "aaaaaaaaaaaa", "ok", "alice")
    await registry.set_routing(
        RoutingTable(stable="aaaaaaaaaaaa"), expect_revision=0, event=promote
    )
    canary = RoutingTable(stable="aaaaaaaaaaaa", canary="bbbbbbbbbbbb", canary_percent=10)
    later = ModelEvent(EventKind.ROUTED, "bbbbbbbbbbbb", "", "bob", at=T0 + timedelta(hours=1))
    await registry.set_routing(canary, expect_revision=1, event=later)
    promoted = await registry.get("aaaaaaaaaaaa")
    assert (promoted.promoted_at, promoted.promoted_by) == (promote.at, "alice")  # once only
    assert (await registry.get("bbbbbbbbbbbb")).promoted_at is None
    events = await registry.events("aaaaaaaaaaaa", limit=1)
    assert events[0] == promote
