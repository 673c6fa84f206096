"""The model hub in the embedded service: versions side by side, routed per request."""

from __future__ import annotations

import asyncio
import gc
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from sam3_service.domain import jobs, model_admin
from sam3_service.domain.params import SegmentParams
from sam3_service.domain.services import Services
from sam3_service.errors import Conflict, ModelVersionUnavailable
from sam3_service.hub import ModelState, RoutingTable
from sam3_service.runtime import model_host, open_services
from sam3_service.tasks.base import TaskStatus
from tests.helpers import make_settings, png_bytes

PARAMS = SegmentParams(prompt="cat")


async def until(check: Callable[[], bool], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


@pytest.fixture
async def hub(tiny_model_dir: Path, tmp_path: Path) -> AsyncIterator[Services]:
    """Embedded services on a host of their own (it may be unloaded), its version stable."""
    settings = make_settings(tiny_model_dir, tmp_path)
    host = model_host(settings, str(tiny_model_dir))
    host.start()
    try:
        async with open_services(settings, models=host) as services:
            assert services.hub is not None
            await until(lambda: services.hub is not None and services.hub.table.stable is not None)
            yield services
    finally:
        host.close()


async def load_other(services: Services, folder: Path) -> str:
    """Register and load the other seed's model; returns its version once ready."""
    model, _ = await model_admin.add(services, str(folder), actor="test")
    await model_admin.load(services, model.version, actor="test")
    assert services.models is not None
    models = services.models
    await until(lambda: model.version in models.ready_versions())
    return model.version


async def segment_as(services: Services, owner: str, **fields: Any) -> dict[str, Any]:
    record, result = await jobs.segment_now(
        services, params=PARAMS, data=png_bytes(96, 64), owner=owner, **fields
    )
    assert record.model_version == result["model"]["version"]
    return result


async def test_the_starting_model_is_registered_stable_and_named(hub: Services) -> None:
    assert hub.hub is not None and hub.models is not None
    version = hub.hub.table.stable
    assert version is not None and hub.models.ready_versions() == [version]
    assert (await hub.hub.registry.get(version)).state is ModelState.READY
    result = await segment_as(hub, "alice")
    assert result["model"]["version"] == version


async def test_a_pin_on_a_version_not_loaded_answers_409_naming_it(hub: Services) -> None:
    with pytest.raises(ModelVersionUnavailable, match="model version nope-1 is not loaded"):
        await segment_as(hub, "alice", model_version="nope-1")
    with pytest.raises(ModelVersionUnavailable, match="nope-1"):
        await jobs.submit(hub, params=PARAMS, data=png_bytes(96, 64), model_version="nope-1")


async def test_a_10_percent_canary_takes_8_to_12_percent_of_owners_sticky(
    hub: Services, other_tiny_model_dir: Path
) -> None:
    assert hub.hub is not None
    stable = hub.hub.table.stable
    canary = await load_other(hub, other_tiny_model_dir)
    await model_admin.route(hub.hub, {"canary": canary, "canary_percent": 10.0}, actor="test")
    owners = [f"owner-{n}" for n in range(2000)]
    first = {owner: hub.hub.route(owner) for owner in owners}
    on_canary = [owner for owner, chosen in first.items() if chosen and chosen.version == canary]
    assert 160 <= len(on_canary) <= 240
    assert all(hub.hub.route(owner) == first[owner] for owner in owners)  # sticky
    for owner in (on_canary[0], next(o for o in owners if o not in on_canary)):
        expected = canary if owner in on_canary else stable
        for _ in range(2):
            assert (await segment_as(hub, owner))["model"]["version"] == expected
    pinned = await segment_as(hub, on_canary[0], model_version=stable)
    assert pinned["model"]["version"] == stable
    by_client = await segment_as(hub, "anonymous", routing_owner=on_canary[1])
    assert by_client["model"]["version"] == canary  # the X-Client-Id's bucket, not the owner's


async def test_an_over_budget_load_is_refused_and_the_stable_keeps_serving(
    tiny_model_dir: Path, other_tiny_model_dir: Path, tmp_path: Path
) -> None:
    settings = make_settings(tiny_model_dir, tmp_path, model_memory_budget=1)
    host = model_host(settings, str(tiny_model_dir))
    host.start()
    try:
        async with open_services(settings, models=host) as services:
            assert services.hub is not None and services.models is not None
            await until(lambda: services.hub is not None and services.hub.table.stable is not None)
            model, _ = await model_admin.add(services, str(other_tiny_model_dir), actor="t")
            with pytest.raises(Conflict, match=f"model version {model.version} needs"):
                await model_admin.load(services, model.version, actor="t")
            assert (await services.hub.registry.get(model.version)).state is ModelState.REGISTERED
            assert model.version not in services.models.versions()
            result = await segment_as(services, "alice")
            assert result["model"]["version"] == services.hub.table.stable
    finally:
        host.close()


async def test_unloading_drains_and_frees_the_version(
    hub: Services, other_tiny_model_dir: Path
) -> None:
    assert hub.models is not None and hub.hub is not None
    other = await load_other(hub, other_tiny_model_dir)
    with pytest.raises(Conflict, match="promote another one first"):
        await model_admin.unload(hub, hub.hub.table.stable or "", actor="t")
    engine = weakref.ref(hub.models.host(other).engine())
    running = asyncio.create_task(segment_as(hub, "alice", model_version=other))
    await asyncio.sleep(0)
    await model_admin.unload(hub, other, actor="t")
    assert (await running)["model"]["version"] == other  # it ran to its end
    assert other not in hub.models.versions()
    assert (await hub.hub.registry.get(other)).state is ModelState.UNLOADED
    gc.collect()
    assert engine() is None


async def test_queued_tasks_run_on_their_version_and_unload_waits_for_them(
    hub: Services, other_tiny_model_dir: Path
) -> None:
    other = await load_other(hub, other_tiny_model_dir)
    queued = [
        await jobs.submit(hub, params=PARAMS, data=png_bytes(70 + n, 50), model_version=other)
        for n in range(3)
    ]
    assert {record.model_version for record in queued} == {other}
    await model_admin.unload(hub, other, actor="t")
    for record in queued:
        done = await hub.store.get(record.id)
        assert (done.status, done.model_version) == (TaskStatus.SUCCEEDED, other)
    with pytest.raises(ModelVersionUnavailable, match=other):
        await jobs.submit(hub, params=PARAMS, data=png_bytes(96, 64), model_version=other)


class Recorder:
    """The hooks' other side: records what it is told, runs the shadow at once."""

    def __init__(self) -> None:
        self.outcomes: list[tuple[str, bool]] = []
        self.shadowed: list[tuple[str, str, str]] = []
        self.runs: list[Awaitable[dict[str, Any]]] = []

    async def observe(
        self, table: RoutingTable, version: str, *, ok: bool, latency_ms: float
    ) -> None:
        assert latency_ms > 0
        self.outcomes.append((version, ok))

    def offer(
        self,
        served_version: str,
        shadow_version: str,
        served_result: dict[str, Any],
        run_shadow: Callable[[], Awaitable[dict[str, Any]]],
    ) -> bool:
        self.shadowed.append((served_version, shadow_version, served_result["model"]["version"]))
        self.runs.append(run_shadow())
        return True


async def test_the_observer_hears_each_run_and_the_shadow_gets_a_copy(
    hub: Services, other_tiny_model_dir: Path
) -> None:
    assert hub.hub is not None
    stable = hub.hub.table.stable
    shadow = await load_other(hub, other_tiny_model_dir)
    await model_admin.route(hub.hub, {"shadow": shadow, "shadow_percent": 100.0}, actor="t")
    hub.observer = hub.shadow = recorder = Recorder()
    tasks = len(await hub.store.list(limit=100))
    await segment_as(hub, "alice")
    assert recorder.outcomes == [(stable, True)]
    assert recorder.shadowed == [(stable, shadow, stable)]
    copy = await recorder.runs[0]
    assert copy["model"]["version"] == shadow
    assert len(await hub.store.list(limit=100)) == tasks + 1  # the shadow made no task
