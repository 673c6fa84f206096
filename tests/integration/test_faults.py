"""Faults against the production stack: identical requests at once, Redis and RabbitMQ going
away and coming back, and workers killed in the middle of their tasks."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from tests.integration.stack import Stack, Worker, picture

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.amqp,
    pytest.mark.s3,
    pytest.mark.slow,
]


def segment(api: TestClient, seed: int, prompt: str = "cat") -> Response:
    files = {"file": (f"{seed}.png", picture(seed), "image/png")}
    return api.post("/v1/segment", files=files, data={"prompt": prompt})


def submit(api: TestClient, seed: int) -> str:
    files = {"file": (f"{seed}.png", picture(seed), "image/png")}
    response = api.post("/v1/tasks", files=files, data={"prompt": "cat"})
    assert response.status_code == 202, response.text
    return str(response.json()["task_id"])


def wait_all_finished(stack: Stack, ids: list[str], timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        rows = stack.rows(ids)
        unfinished = [row for row in rows.values() if row["status"] in ("queued", "running")]
        if not unfinished:
            return rows
        assert time.monotonic() < deadline, f"{len(unfinished)} unfinished: {unfinished[:3]}"
        time.sleep(0.1)


def wait_reported(stack: Stack, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while not stack.reports():
        assert time.monotonic() < deadline, "no worker reported"
        time.sleep(0.1)


def test_twenty_identical_requests_cause_one_inference(stack: Stack, api: TestClient) -> None:
    stack.live_workers(2)
    before = stack.inferences()
    with ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(lambda _: segment(api, seed=100), range(20)))
    assert [r.status_code for r in responses] == [200] * 20
    rows = stack.rows(list({r.json()["task_id"] for r in responses}))
    [ran] = [row for row in rows.values() if row["attempts"] > 0]
    # The others joined it in flight, or came after it ended and got its cached result.
    assert {row["result_key"] for row in rows.values()} == {ran["result_key"]}
    time.sleep(1.5)  # every worker has reported since (heartbeat 0.5 s)
    assert stack.inferences() - before == 1


def test_a_redis_outage_fails_no_request_and_caching_comes_back(
    stack: Stack, api: TestClient
) -> None:
    stack.live_workers(2)
    statuses: list[int] = []
    stop = threading.Event()

    def traffic() -> None:
        seed = 5000
        while not stop.is_set():
            statuses.append(segment(api, seed).status_code)
            seed += 1

    sender = threading.Thread(target=traffic)
    sender.start()
    try:
        time.sleep(1)
        stack.redis.stop()
        during = len(statuses)
        time.sleep(3)
        during = len(statuses) - during
        stack.redis.start()  # empty, on the same port
        time.sleep(1)
    finally:
        stop.set()
        sender.join(60)
    assert during >= 3, "too few requests while Redis was down"
    assert statuses == [200] * len(statuses)

    wait_reported(stack)  # the workers' heartbeats reach the new Redis by themselves
    assert api.get("/ready").status_code == 200
    first = segment(api, seed=999, prompt="dog")
    before = stack.inferences()
    second = segment(api, seed=999, prompt="dog")
    assert first.status_code == second.status_code == 200
    assert first.json()["task_id"] != second.json()["task_id"]
    assert stack.rows([second.json()["task_id"]])[second.json()["task_id"]]["attempts"] == 0
    time.sleep(1)
    assert stack.inferences() == before  # the second came from the result cache


def test_a_broker_restart_loses_no_queued_task(stack: Stack, api: TestClient) -> None:
    stack.live_workers(2)
    ids = [submit(api, seed) for seed in range(2000, 2040)]
    queued = sum(row["status"] == "queued" for row in stack.rows(ids).values())
    stack.rabbitmq.stop()
    stack.rabbitmq.start()  # same ports and data
    ids.append(submit(api, 2040))  # the API publishes again
    rows = wait_all_finished(stack, ids, timeout_s=90)
    assert queued >= 10, "the broker went down with too few tasks queued"
    assert {row["status"] for row in rows.values()} == {"succeeded"}


def test_workers_killed_mid_task_lose_no_task_and_end_none_twice(
    stack: Stack, api: TestClient
) -> None:
    first, second = stack.live_workers(2)
    ids = [submit(api, seed) for seed in range(3000, 3050)]
    seen: dict[str, list[tuple[Any, ...]]] = {task_id: [] for task_id in ids}
    stop = threading.Event()

    def watch() -> None:  # what a user polling every task sees, until a last look at the end
        while True:
            last = stop.is_set()
            for task_id, row in stack.rows(ids).items():
                if row["status"] not in ("queued", "running"):
                    seen[task_id].append((row["status"], row["finished_at"], row["result_key"]))
            if last:
                return
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        child_killed = kill_mid_task(stack, first, first.signal_child)  # the parent lives on
        worker_killed = kill_mid_task(stack, second, second.signal_all)  # parent and child
        rows = wait_all_finished(stack, ids, timeout_s=120)
    finally:
        stop.set()
        watcher.join(30)
    assert {row["status"] for row in rows.values()} == {"succeeded"}
    assert all(len(set(outcomes)) == 1 for outcomes in seen.values())
    assert sum(stack.deliveries(child_killed).values()) >= 2
    assert set(stack.deliveries(worker_killed)) - {second.log}, "not run by another worker"


def kill_mid_task(stack: Stack, worker: Worker, send: Callable[[int], None]) -> str:
    """Freeze the process(es) `send` reaches; kill them if the worker is then in the middle of
    a task (received per its log, `running` in the store), else let them go on and look again.
    Frozen, a task cannot finish between the look and the kill."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        send(signal.SIGSTOP)
        task_id = worker.running()
        if task_id is not None and stack.rows([task_id])[task_id]["status"] == "running":
            send(signal.SIGKILL)
            return task_id
        send(signal.SIGCONT)
        time.sleep(0.01)
    raise AssertionError("the worker was never in the middle of a task")
