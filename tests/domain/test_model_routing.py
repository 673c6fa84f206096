"""The routing table in a running service: shares of traffic, and changes reaching replicas."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from sam3_service.domain import model_admin
from sam3_service.domain.model_routing import ModelRouter, traffic_shares
from sam3_service.domain.services import Services
from sam3_service.errors import ModelVersionUnavailable
from sam3_service.hub import (
    EventKind,
    ModelEvent,
    ModelRegistry,
    ModelState,
    ModelVersion,
    RoutingTable,
    open_model_registry,
    promote,
)


def test_traffic_shares_follow_the_table() -> None:
    assert traffic_shares(RoutingTable()) == {}
    assert traffic_shares(RoutingTable(stable="a")) == {"a": 100.0}
    canary = RoutingTable(stable="a", canary="b", canary_percent=10)
    assert traffic_shares(canary) == {"a": 90.0, "b": 10.0}
    split = RoutingTable(stable="a", canary="c", canary_percent=20, split=(("a", 1), ("b", 3)))
    assert traffic_shares(split) == {"c": 20.0, "a": 20.0, "b": 60.0}


def version(name: str, state: ModelState = ModelState.READY) -> ModelVersion:
    return ModelVersion(
        version=name,
        name="tiny",
        source_kind="local",  # type: ignore[arg-type]
        source=f"/models/{name}",
        checksum="0" * 64,
        dtype="float32",
        device="cpu",
        state=state,
    )


@pytest.fixture
async def registry(tmp_path: Path) -> AsyncIterator[ModelRegistry]:
    opened = await open_model_registry(f"sqlite:///{tmp_path / 'hub.db'}")
    for name in ("v1", "v2"):
        await opened.add(version(name), actor="test")
    yield opened
    await opened.aclose()


async def test_a_change_reaches_another_replica_within_its_poll(registry: ModelRegistry) -> None:
    here, there = ModelRouter(registry, poll_s=0.05), ModelRouter(registry, poll_s=0.05)
    assert here.route("alice") is None  # no table yet: the process's own model
    polling = asyncio.create_task(there.poll())
    try:
        await here.change(
            lambda table: promote(table, "v1"), ModelEvent(EventKind.PROMOTED, "v1", "", "t")
        )
        await model_admin.route(here, {"canary": "v2", "canary_percent": 100.0}, actor="t")
        deadline = time.monotonic() + 5
        while there.table.canary != "v2":
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        chosen = there.route("alice")
        assert chosen is not None and chosen.version == "v2"
        pinned = there.route("alice", "v1")
        assert pinned is not None and pinned.version == "v1"
    finally:
        polling.cancel()


async def test_promote_needs_a_ready_version_and_rollback_logs_why(
    registry: ModelRegistry,
) -> None:
    hub = ModelRouter(registry)
    await registry.add(version("v3", ModelState.REGISTERED), actor="t")
    await model_admin.promote_version(hub, "v1", actor="t")
    with pytest.raises(ModelVersionUnavailable, match="v3 is not ready"):
        await model_admin.promote_version(hub, "v3", actor="t")
    await model_admin.route(hub, {"split": [("v1", 1), ("v2", 1)]}, actor="t")
    table = await model_admin.roll_back(hub, "v2", reason="errors", actor="ops")
    assert table.split == () and table.stable == "v1"
    latest = (await registry.events(limit=1))[0]
    assert (latest.kind, latest.version, latest.reason) == (EventKind.ROLLED_BACK, "v2", "errors")


class Figures:
    def figures(self) -> dict[str, Any]:
        return {"v2": {"requests": 3}}

    def agreement(self) -> dict[str, Any]:
        return {"v2": {"mean_iou": 1.0}}


async def test_the_listing_shows_the_live_figures(services: Services) -> None:
    assert services.hub is not None
    services.observer = services.shadow = Figures()  # type: ignore[assignment]
    shown = await model_admin.listing(services)
    assert shown["canary"] == {"v2": {"requests": 3}}
    assert shown["shadow"] == {"v2": {"mean_iou": 1.0}}
    services.observer = services.shadow = None
    assert (await model_admin.listing(services))["canary"] is None
