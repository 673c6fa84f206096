"""Routing by image: rendezvous hashing is stable, balanced and moves only a lost worker's
images; submissions carry the route to the queue, and never fail for it."""

from __future__ import annotations

import dataclasses
import time
from collections import Counter

from sam3_service.cache.memory import MemoryCache
from sam3_service.domain import affinity, jobs
from sam3_service.domain.fleet import WORKER_KEY, WorkerReport, publish
from sam3_service.domain.models import ModelState
from sam3_service.domain.params import SegmentParams
from sam3_service.domain.services import Services
from sam3_service.tasks import QueueRoute, TaskRecord
from sam3_service.tasks.base import TaskKind
from tests.helpers import png_bytes

KEYS = [f"images/{n:064x}" for n in range(3000)]


def assignment(workers: list[str]) -> dict[str, str | None]:
    return {key: affinity.choose(key, workers) for key in KEYS}


def test_an_image_goes_to_the_same_worker_whatever_the_order() -> None:
    assert assignment(["a", "b", "c"]) == assignment(["c", "a", "b"])
    assert affinity.choose("images/x", []) is None


def test_images_spread_evenly_over_the_workers() -> None:
    counts = Counter(assignment(["host-1", "host-2", "host-3"]).values())
    assert set(counts) == {"host-1", "host-2", "host-3"}
    assert all(900 <= count <= 1100 for count in counts.values()), counts


def test_losing_or_adding_a_worker_moves_only_its_images() -> None:
    three = assignment(["a", "b", "c"])
    two = assignment(["a", "c"])
    moved = [key for key in KEYS if three[key] != two[key]]
    assert moved == [key for key in KEYS if three[key] == "b"]
    four = assignment(["a", "b", "c", "d"])
    assert all(four[key] in (three[key], "d") for key in KEYS)
    assert 600 <= sum(four[key] == "d" for key in KEYS) <= 900  # about a quarter


def report(worker_id: str, version: str, *, route: str | None = None) -> WorkerReport:
    model = {"name": "tiny", "version": version, "random": True, "device": "cpu", "dtype": "f32"}
    return WorkerReport(
        worker_id=worker_id,
        state=ModelState.READY,
        model=model,
        heartbeat_at=time.time(),
        route=route or f"route-{worker_id}",
    )


def record(kind: TaskKind = TaskKind.IMAGE, version: str | None = None) -> TaskRecord:
    return TaskRecord(id="t1", kind=kind, input_key="images/abc", params={}, model_version=version)


async def fleet_of(*reports: WorkerReport) -> MemoryCache:
    cache = MemoryCache()
    for each in reports:
        await publish(cache, each, ttl_s=60)
    return cache


async def test_a_route_names_the_version_and_for_an_image_a_worker_of_it(
    services: Services,
) -> None:
    cache = await fleet_of(report("a", "v1"), report("b", "v1"), report("c", "v2"))
    remote = dataclasses.replace(services, models=None, cache=cache)
    image = await affinity.route(remote, record(version="v1"))
    assert image is not None and image.version == "v1"
    assert image.worker == affinity.choose("images/abc", ["route-a", "route-b"])
    video = await affinity.route(remote, record(TaskKind.VIDEO, version="v1"))
    assert video == QueueRoute(version="v1")
    assert await affinity.route(remote, record(version="v9")) == QueueRoute(version="v9")
    assert await affinity.route(remote, record()) is None  # several versions: any worker
    assert await affinity.route(services, record(version="v1")) is None  # runs it itself


async def test_a_task_of_no_version_goes_to_a_worker_when_all_hold_one(
    services: Services,
) -> None:
    cache = await fleet_of(report("a", "v1"), report("b", "v1", route="route-a"))
    remote = dataclasses.replace(services, models=None, cache=cache)
    assert await affinity.route(remote, record()) == QueueRoute(version="v1", worker="route-a")


async def test_an_unreadable_fleet_routes_by_version_only(services: Services) -> None:
    cache = await fleet_of(report("a", "v1"))
    await cache.set(WORKER_KEY + "a", b"not json")
    remote = dataclasses.replace(services, models=None, cache=cache)
    assert await affinity.route(remote, record(version="v1")) == QueueRoute(version="v1")


class RecordingQueue:
    """A queue that keeps what it is given."""

    def __init__(self) -> None:
        self.queued: list[tuple[str, QueueRoute | None]] = []

    async def enqueue(self, task_id: str, *, route: QueueRoute | None = None) -> None:
        self.queued.append((task_id, route))


async def test_a_submission_queues_its_task_with_its_route(services: Services) -> None:
    cache = await fleet_of(report("a", "v1"), report("b", "v1"))
    queue = RecordingQueue()
    remote = dataclasses.replace(services, models=None, cache=cache, queue=queue)  # type: ignore[arg-type]
    data = png_bytes(80)
    first = await jobs.submit(remote, params=SegmentParams(prompt="cat"), data=data)
    second = await jobs.submit(remote, params=SegmentParams(prompt="dog"), data=data)
    [(first_id, first_route), (second_id, second_route)] = queue.queued
    assert (first_id, second_id) == (first.id, second.id)
    assert first_route is not None and first_route.worker in ("route-a", "route-b")
    assert second_route == first_route  # the same image: the same worker
