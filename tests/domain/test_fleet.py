"""The workers' shared state: what a heartbeat publishes, and what the API reads back."""

from __future__ import annotations

import asyncio
import time

import pytest

from sam3_service.cache.base import Cache
from sam3_service.cache.memory import MemoryCache
from sam3_service.domain.fleet import (
    Heartbeat,
    WorkerReport,
    live_reports,
    publish,
    ready_model_version,
    ready_versions,
    ready_workers,
    service_report,
)
from sam3_service.domain.models import ModelState


async def live_ids(cache: Cache) -> list[str]:
    return [live.worker_id for live in await live_reports(cache)]


def report(worker_id: str, state: ModelState, *, version: str = "v1") -> WorkerReport:
    model = {"name": "tiny", "version": version, "random": True, "device": "cpu", "dtype": "f32"}
    return WorkerReport(
        worker_id=worker_id,
        state=state,
        reason="" if state is ModelState.READY else f"{state.value} for a reason",
        model=model if state is ModelState.READY else None,
        heartbeat_at=time.time(),
    )


def test_a_report_survives_its_json() -> None:
    original = report("host-1", ModelState.READY)
    assert WorkerReport.from_json(original.to_json()) == original


async def test_the_api_shows_a_ready_worker_else_a_failed_one_else_one_starting() -> None:
    cache = MemoryCache()
    assert await service_report(cache) is None
    assert await ready_model_version(cache) is None
    for worker_id, state in [("a", ModelState.STARTING), ("b", ModelState.FAILED)]:
        await publish(cache, report(worker_id, state), ttl_s=10)
        assert (await service_report(cache)).state is state  # type: ignore[union-attr]
    await publish(cache, report("c", ModelState.READY, version="v2"), ttl_s=10)
    assert (await service_report(cache)).worker_id == "c"  # type: ignore[union-attr]
    assert await ready_model_version(cache) == "v2"


async def test_workers_report_per_version_and_no_writer_hides_another() -> None:
    cache = MemoryCache()
    for worker_id, version in [("a", "v1"), ("b", "v2"), ("c", "v2")]:
        await publish(cache, report(worker_id, ModelState.READY, version=version), ttl_s=10)
    await publish(cache, report("d", ModelState.STARTING), ttl_s=10)
    assert sorted(live.worker_id for live in await ready_workers(cache)) == ["a", "b", "c"]
    assert [live.worker_id for live in await ready_workers(cache, "v1")] == ["a"]
    assert await ready_workers(cache, "v3") == []
    versions = await ready_versions(cache)
    assert sorted(versions) == ["v1", "v2"]
    assert versions["v1"]["version"] == "v1"
    for _ in range(3):  # whoever wrote last: the version most workers hold
        await publish(cache, report("a", ModelState.READY, version="v1"), ttl_s=10)
        assert await ready_model_version(cache) == "v2"
    assert (await service_report(cache)).state is ModelState.READY  # type: ignore[union-attr]


async def test_reports_expire_when_their_worker_stops_beating() -> None:
    cache = MemoryCache()
    await publish(cache, report("a", ModelState.READY), ttl_s=0.05)
    await asyncio.sleep(0.1)
    assert await service_report(cache) is None
    assert await live_ids(cache) == []


async def test_a_heartbeat_beats_until_it_ends_then_withdraws_its_worker() -> None:
    cache = MemoryCache()
    beats = 0

    def current() -> WorkerReport:
        nonlocal beats
        beats += 1
        return report("w", ModelState.READY)

    async with Heartbeat(cache, current, interval_s=0.02) as heartbeat:
        await asyncio.sleep(0.15)
        assert await live_ids(cache) == ["w"]
    assert beats >= 4
    assert heartbeat.ttl_s == pytest.approx(0.06)
    assert await live_ids(cache) == []
    assert await service_report(cache) is None


def test_a_heartbeat_needs_a_positive_interval() -> None:
    with pytest.raises(ValueError):
        Heartbeat(MemoryCache(), lambda: report("w", ModelState.READY), interval_s=0)
