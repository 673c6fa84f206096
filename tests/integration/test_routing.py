"""Routing in production mode (RabbitMQ, PostgreSQL, Redis, S3, `sam3-service worker`
processes): a task routed to a model version runs on a worker holding it, and the prompts on
one image run where it was encoded (its features warm), even as a worker dies."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sam3_service.domain import affinity, fleet, jobs, keys, model_admin
from sam3_service.domain.params import SegmentParams
from sam3_service.errors import ModelVersionUnavailable
from sam3_service.hub import EventKind, ModelEvent, ModelState, RoutingTable
from sam3_service.inference import build_tiny_model, resolve_model
from sam3_service.runtime import open_services
from sam3_service.tasks import TaskStatus
from tests.integration.stack import Stack, Worker, picture

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.amqp,
    pytest.mark.s3,
    pytest.mark.slow,
    pytest.mark.timeout(400),
]

PROMPTS = ["cat", "dog", "bird", "car"]


def ran_on(stack: Stack, task_id: str, timeout_s: float = 5) -> Worker:
    """The worker whose log says it ran `task_id` to its end."""
    needle = f"Task sam3.run_job[{task_id}] succeeded"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for worker in stack.workers:
            if needle in worker.log.read_text(errors="replace"):
                return worker
        time.sleep(0.1)
    raise AssertionError(f"no worker logged that it ran {task_id}")


def route_of(worker: Worker) -> str:
    """The id a worker's own queue is named by (its main process)."""
    return f"{socket.gethostname()}-{worker.process.pid}"


async def wait_done(stack: Stack, ids: list[str], timeout_s: float) -> dict[str, str]:
    deadline = time.monotonic() + timeout_s
    while True:
        rows = stack.rows(ids)
        if all(row["status"] not in ("queued", "running") for row in rows.values()):
            return {task_id: row["status"] for task_id, row in rows.items()}
        assert time.monotonic() < deadline, rows
        await asyncio.sleep(0.1)


async def test_a_task_for_each_version_runs_on_a_worker_holding_it(
    stack: Stack, tmp_path: Path
) -> None:
    stack.live_workers(2)
    other_model = build_tiny_model(tmp_path / "tiny-seed-1", seed=1)
    v1 = resolve_model(stack.fields["model"], tmp_path).version
    v2 = resolve_model(str(other_model), tmp_path).version
    assert v1 != v2
    other = stack.start_worker(model=str(other_model))
    try:
        other.wait_ready(stack.redis_client())
        async with open_services(stack.settings()) as services:
            assert set(await fleet.ready_versions(services.cache)) == {v1, v2}
            assert services.hub is not None
            models = await services.hub.registry.versions()
            registered = {model.version: model.state for model in models}
            assert registered[v1] is registered[v2] is ModelState.READY  # the workers said so
            routed: dict[str, str] = {}
            for seed, version in enumerate([v1, v2, v1, v2, v2]):
                record = await jobs.submit(
                    services,
                    params=SegmentParams(prompt="cat"),
                    data=picture(600 + seed),
                    model_version=version,  # a pin: the API routes at intake
                )
                assert record.model_version == version
                routed[record.id] = version
            with pytest.raises(ModelVersionUnavailable, match="held by no ready worker"):
                await jobs.submit(
                    services,
                    params=SegmentParams(prompt="cat"),
                    data=picture(700),
                    model_version="0123456789ab",
                )
            states = await wait_done(stack, list(routed), timeout_s=60)
            assert set(states.values()) == {"succeeded"}
            for task_id, version in routed.items():
                record = await services.store.get(task_id)
                assert (record.status, record.model_version) == (TaskStatus.SUCCEEDED, version)
                assert (ran_on(stack, task_id) is other) == (version == v2)
            # once v2 is stable, a synchronous request runs there and the watch hears of it
            await model_admin.promote_version(services.hub, v2, actor="test")
            try:
                record, result = await jobs.segment_now(
                    services, params=SegmentParams(prompt="cat"), data=picture(800), owner="c"
                )
                assert record.model_version == result["model"]["version"] == v2
                assert services.observer is not None
                assert services.observer.figures()[v2]["requests"] == 1
            finally:  # the package's other tests run workers of v1 with no routing table
                event = ModelEvent(EventKind.ROUTED, v2, "the test's table cleared", "test")
                table = await services.hub.refresh()
                await services.hub.registry.set_routing(
                    RoutingTable(), expect_revision=table.revision, event=event
                )
                await asyncio.sleep(services.hub.poll_s + 1)  # other API processes read it
    finally:
        other.kill()


def submit_and_wait(api: TestClient, seed: int, prompt: str) -> str:
    """Queue a prompt on picture `seed` and wait until it ran; its task id."""
    files = {"file": (f"{seed}.png", picture(seed), "image/png")}
    accepted = api.post("/v1/tasks", files=files, data={"prompt": prompt})
    assert accepted.status_code == 202, accepted.text
    task_id = str(accepted.json()["task_id"])
    deadline = time.monotonic() + 30
    while (status := api.get(f"/v1/tasks/{task_id}").json()["status"]) in ("queued", "running"):
        assert time.monotonic() < deadline, f"task {task_id} still {status}"
        time.sleep(0.05)
    assert status == "succeeded", status
    return task_id


def warm_hits(stack: Stack) -> int:
    return sum(report.feature_cache_hits for report in stack.reports())


def test_the_prompts_on_an_image_run_where_it_was_encoded_even_as_a_worker_dies(
    stack: Stack, api: TestClient
) -> None:
    workers = stack.live_workers(3)
    extra = workers[2]
    seeds = list(range(700, 709))
    try:
        by_route = {route_of(worker): worker for worker in workers}
        wait_routable(stack, set(by_route))
        owner = {seed: by_route[affinity.choose(image_key(seed), by_route) or ""] for seed in seeds}
        assert len(set(owner.values())) >= 2, "the images did not spread"
        with ThreadPoolExecutor(3) as pool:  # the first prompt on each image, 3 at a time
            first = list(pool.map(lambda seed: submit_and_wait(api, seed, "cat"), seeds))
            hits_before = warm_hits(stack)
            later = [(seed, prompt) for prompt in PROMPTS[1:] for seed in seeds]
            ids = list(pool.map(lambda job: submit_and_wait(api, *job), later))
        ran = [ran_on(stack, task_id) for task_id in first + ids]
        places = [
            worker is owner[seed]
            for seed, worker in zip(seeds + [s for s, _ in later], ran, strict=True)
        ]
        time.sleep(1.5)  # every worker has reported since (heartbeat 0.5 s)
        hits = warm_hits(stack) - hits_before
        figures = f"owners {Counter(map(route_of, owner.values()))}, on the owner {sum(places)}"
        print(f"{figures} of {len(places)}, {hits} warm of {len(later)} later")  # noqa: T201
        assert hits >= 0.9 * len(later)  # a task waits 3 s for its worker, then moves on
        assert sum(places) >= 0.9 * len(places)

        victim = max(workers, key=lambda worker: list(owner.values()).count(worker))
        victim.kill()
        started = time.monotonic()
        with ThreadPoolExecutor(3) as pool:  # at once: some are still routed to the dead one
            after = list(pool.map(lambda s: submit_and_wait(api, s, "tree"), seeds))
        assert time.monotonic() - started < 30
        ran = [ran_on(stack, task_id) for task_id in after]
        assert victim not in ran
        kept = [worker is owner[seed] for seed, worker in zip(seeds, ran, strict=True)]
        assert sum(kept) >= sum(owner[seed] is not victim for seed in seeds) - 1  # only its moved
    finally:
        extra.kill()


def image_key(seed: int) -> str:
    """What the API routes picture `seed` by: the key of its content."""
    return keys.image_key(hashlib.sha256(picture(seed)).hexdigest())


def wait_routable(stack: Stack, routes: set[str], timeout_s: float = 20) -> None:
    """Wait until the ready workers' reports name exactly `routes`."""
    deadline = time.monotonic() + timeout_s
    while {report.route for report in stack.reports() if report.state == "ready"} != routes:
        assert time.monotonic() < deadline, [report.route for report in stack.reports()]
        time.sleep(0.1)
