"""The model hub in the embedded service: versions side by side, routed per request."""

from __future__ import annotations

import asyncio
import gc
import shutil
import time
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from sam3_service.domain import jobs, model_admin
from sam3_service.domain.params import SegmentParams
from sam3_service.domain.services import Services
from sam3_service.domain.shadow import ShadowRunner
from sam3_service.errors import Conflict, ModelVersionUnavailable, Sam3Error
from sam3_service.hub import EventKind, ModelState
from sam3_service.inference import build_tiny_model
from sam3_service.runtime import model_host, open_services
from sam3_service.settings import Settings
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
    async with embedded_hub(make_settings(tiny_model_dir, tmp_path)) as services:
        yield services


@asynccontextmanager
async def embedded_hub(settings: Settings) -> AsyncIterator[Services]:
    host = model_host(settings, settings.model)
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


async def segment_as(
    services: Services, owner: str, params: SegmentParams = PARAMS, **fields: Any
) -> dict[str, Any]:
    record, result = await jobs.segment_now(
        services, params=params, data=png_bytes(96, 64), owner=owner, **fields
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


async def test_the_service_shadows_a_copy_and_measures_the_agreement(
    hub: Services, other_tiny_model_dir: Path
) -> None:
    assert hub.hub is not None and isinstance(hub.shadow, ShadowRunner)
    stable = hub.hub.table.stable
    assert stable is not None
    shadow = await load_other(hub, other_tiny_model_dir)
    await model_admin.route(hub.hub, {"shadow": shadow, "shadow_percent": 100.0}, actor="t")
    tasks = len(await hub.store.list(limit=100))
    every_query = SegmentParams(prompt="cat", score_threshold=0.0)  # objects to compare
    result = await segment_as(hub, "alice", every_query)
    assert result["model"]["version"] == stable  # the caller gets the stable answer
    await hub.shadow.wait_idle()
    figures = hub.shadow.agreement()[shadow]
    assert (figures["runs"], figures["dropped"], figures["failed"]) == (1, 0, 0)
    assert figures["agreement"] < 1.0  # another seed's model
    assert len(await hub.store.list(limit=100)) == tasks + 1  # the shadow made no task
    listing = await model_admin.listing(hub)
    assert listing["shadow"][shadow]["runs"] == 1
    assert listing["canary"][stable]["requests"] == 1


async def test_a_failing_canary_is_rolled_back_while_the_stable_one_answers(
    tiny_model_dir: Path, other_tiny_model_dir: Path, tmp_path: Path
) -> None:
    rules = {"rollback_min_requests": 6, "rollback_window_requests": 6}
    async with embedded_hub(make_settings(tiny_model_dir, tmp_path, **rules)) as services:
        assert services.hub is not None and services.models is not None
        stable = services.hub.table.stable
        canary = await load_other(services, other_tiny_model_dir)
        route = {"canary": canary, "canary_percent": 50.0}
        await model_admin.route(services.hub, route, actor="t")
        engine = services.models.host(canary).engine()

        def broken(*args: object, **kwargs: object) -> None:
            raise RuntimeError("injected fault")

        engine.segment = broken  # type: ignore[method-assign]
        answered: dict[str, int] = {}
        for number in range(40):
            try:
                result = await segment_as(services, f"owner-{number}")
            except Sam3Error:
                continue
            answered[result["model"]["version"]] = answered.get(result["model"]["version"], 0) + 1
            if services.hub.table.canary is None:
                break
        assert services.hub.table.canary is None, "the canary was not rolled back"
        assert set(answered) == {stable}  # the stable version answered throughout
        events = await services.hub.registry.events(canary)
        assert events[0].kind is EventKind.ROLLED_BACK and "failed" in events[0].reason
        assert services.observer is not None
        assert services.observer.figures()[canary]["rollbacks"] == 1
        # every owner is the stable version's now, the canary's former ones too
        results = [await segment_as(services, f"owner-{number}") for number in range(6)]
        assert {result["model"]["version"] for result in results} == {stable}


async def test_a_process_without_the_stable_version_serves_its_own_model(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    """The stable version's weights are gone (SAM3_MODEL changed under the routing table):
    the process serves the model it started with instead of refusing every request."""
    folder = build_tiny_model(tmp_path / "replaced", seed=1)
    settings = make_settings(tiny_model_dir, tmp_path / "data")
    async with embedded_hub(settings) as services:
        assert services.hub is not None and services.models is not None
        own = services.hub.table.stable
        gone = await load_other(services, folder)
        await model_admin.promote_version(services.hub, gone, actor="t", models=services.models)
    shutil.rmtree(folder)
    async with embedded_hub(settings) as services:
        assert services.hub is not None and services.hub.table.stable == gone
        assert services.models is not None and await services.models.until_loaded(60)
        result = await segment_as(services, "alice")
        assert result["model"]["version"] == own
        with pytest.raises(ModelVersionUnavailable, match=gone):
            await segment_as(services, "alice", model_version=gone)
