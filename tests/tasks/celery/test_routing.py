"""Routing on RabbitMQ: a route lands in the shared, a version's or a worker's queue, and a
worker's queue passes on what its worker does not take (busy, gone, or giving it up)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import kombu
import pytest

from sam3_service.errors import BackendUnavailable
from sam3_service.tasks import QueueRoute
from sam3_service.tasks.celery import CeleryQueue, CeleryWorker
from sam3_service.tasks.celery.topology import declare, worker_queue
from tests.tasks.celery.helpers import LoopProcess, consuming, take_messages
from tests.tasks.celery.helpers import task_args as args_of
from tests.tasks.handlers import ignore

pytestmark = pytest.mark.amqp

WAIT_S = 0.3  # how long a task waits for its worker here
V1, V2 = "v1", "v2"


@pytest.fixture
def names(amqp_url: str, queue_name: str) -> Iterator[dict[str, str]]:
    """The test's queue names; every queue and exchange made is deleted afterwards."""
    made = {
        "shared": queue_name,
        "dead": f"{queue_name}.dead",
        V1: f"{queue_name}.v.{V1}",
        V2: f"{queue_name}.v.{V2}",
        "w1": f"{queue_name}.w.w1",
        "w2": f"{queue_name}.w.w2",
    }
    yield made
    with kombu.Connection(amqp_url, connect_timeout=3) as conn:
        for name in made.values():
            conn.default_channel.queue_delete(name)


def ids_in(amqp_url: str, queue: str) -> list[str]:
    return [str(args_of(message)[0]) for message in take_messages(amqp_url, queue)]


def wait_ids(amqp_url: str, queue: str, count: int, timeout_s: float = 10) -> list[str]:
    """The ids of `count` messages taken from `queue` as they arrive."""
    found: list[str] = []
    deadline = time.monotonic() + timeout_s
    while len(found) < count:
        assert time.monotonic() < deadline, f"{queue}: {found}, expected {count}"
        found += ids_in(amqp_url, queue)
        time.sleep(0.05)
    return found


async def test_each_route_lands_in_its_queue(
    amqp_url: str, queue_name: str, names: dict[str, str]
) -> None:
    queue = CeleryQueue(amqp_url, queue=queue_name, worker_wait_s=60)
    await queue.start()
    await queue.enqueue("any")
    await queue.enqueue("for-v1", route=QueueRoute(version=V1))
    await queue.enqueue("for-w1", route=QueueRoute(version=V1, worker="w1"))
    await queue.enqueue("for-w2", route=QueueRoute(worker="w2"))  # a worker of no version
    assert await queue.depth() == 2  # the shared queue and v1's, not the workers'
    await queue.aclose()
    assert ids_in(amqp_url, names["shared"]) == ["any"]
    assert ids_in(amqp_url, names[V1]) == ["for-v1"]
    assert ids_in(amqp_url, names["w1"]) == ["for-w1"]
    assert ids_in(amqp_url, names["w2"]) == ["for-w2"]


async def test_the_depth_counts_the_version_queues_while_they_exist(
    amqp_url: str, queue_name: str, names: dict[str, str]
) -> None:
    queue = CeleryQueue(amqp_url, queue=queue_name)
    await queue.start()
    await queue.enqueue("t1", route=QueueRoute(version=V1))
    await queue.enqueue("t2", route=QueueRoute(version=V2))
    assert await queue.depth() == 2
    with kombu.Connection(amqp_url, connect_timeout=3) as conn:
        conn.default_channel.queue_delete(names[V2])
    assert await queue.depth() == 1
    await queue.enqueue("t3")
    assert await queue.depth() == 2
    await queue.aclose()


async def test_routes_by_worker_can_be_turned_off(
    amqp_url: str, queue_name: str, names: dict[str, str]
) -> None:
    queue = CeleryQueue(amqp_url, queue=queue_name, by_worker=False)
    await queue.start()
    await queue.enqueue("t1", route=QueueRoute(version=V1, worker="w1"))
    await queue.enqueue("t2", route=QueueRoute(worker="w1"))
    await queue.aclose()
    assert ids_in(amqp_url, names[V1]) == ["t1"]
    assert ids_in(amqp_url, names["shared"]) == ["t2"]


async def test_a_task_nobody_takes_from_a_worker_queue_moves_on_to_its_version(
    amqp_url: str, queue_name: str, names: dict[str, str]
) -> None:
    queue = CeleryQueue(amqp_url, queue=queue_name, worker_wait_s=WAIT_S)
    await queue.start()
    sent = time.monotonic()
    await queue.enqueue("t1", route=QueueRoute(version=V1, worker="w1"))
    await queue.enqueue("t2", route=QueueRoute(worker="w2"))
    await queue.aclose()
    assert await asyncio.to_thread(wait_ids, amqp_url, names[V1], 1) == ["t1"]
    assert await asyncio.to_thread(wait_ids, amqp_url, names["shared"], 1) == ["t2"]
    assert time.monotonic() - sent >= WAIT_S
    assert ids_in(amqp_url, names["w1"]) == []


async def test_a_task_its_worker_died_holding_moves_on_at_once(
    amqp_url: str, queue_name: str, names: dict[str, str]
) -> None:
    queue = CeleryQueue(amqp_url, queue=queue_name, worker_wait_s=1.0)
    await queue.start()
    await queue.enqueue("t1", route=QueueRoute(version=V1, worker="w1"))
    await queue.aclose()
    with kombu.Connection(amqp_url, connect_timeout=3) as conn:  # its worker takes it...
        assert conn.default_channel.basic_get(names["w1"], no_ack=False) is not None
        await asyncio.sleep(1.2)
        assert ids_in(amqp_url, names[V1]) == []  # (held, it does not expire)
    dropped = time.monotonic()  # ...and dies without acknowledging it
    assert await asyncio.to_thread(wait_ids, amqp_url, names[V1], 1) == ["t1"]
    assert time.monotonic() - dropped < 0.9  # it kept its expiry: passed on at once


async def test_a_worker_queue_declared_otherwise_routes_to_the_version(
    amqp_url: str, queue_name: str, names: dict[str, str]
) -> None:
    queue = CeleryQueue(amqp_url, queue=queue_name, worker_wait_s=5)
    await queue.start()
    other = worker_queue(queue_name, "w1", version=V1, wait_s=9)  # another wait: a mismatch
    await asyncio.to_thread(declare, queue.app, other)
    await queue.enqueue("t1", route=QueueRoute(version=V1, worker="w1"))
    await queue.enqueue("t2", route=QueueRoute(worker="w1"))
    await queue.aclose()
    assert ids_in(amqp_url, names[V1]) == ["t1"]
    assert ids_in(amqp_url, names["shared"]) == ["t2"]


async def test_a_worker_takes_from_its_own_its_version_and_the_shared_queue(
    amqp_url: str, queue_name: str, names: dict[str, str]
) -> None:
    ran: list[str] = []

    async def record(task_id: str) -> None:
        ran.append(task_id)

    process = LoopProcess(record, asyncio.get_running_loop())
    worker = CeleryWorker(
        amqp_url, process, queue=queue_name, version=V1, worker_id="w1", wait_s=WAIT_S
    )
    assert worker.worker_options()["queues"] == [queue_name, names[V1], names["w1"]]
    queue = CeleryQueue(amqp_url, queue=queue_name, worker_wait_s=WAIT_S)
    await queue.start()
    with consuming(worker):
        await queue.enqueue("own", route=QueueRoute(version=V1, worker="w1"))
        await queue.enqueue("version", route=QueueRoute(version=V1))
        await queue.enqueue("shared")
        await queue.enqueue("other", route=QueueRoute(version=V2))
        deadline = time.monotonic() + 10
        while len(ran) < 3:
            assert time.monotonic() < deadline, ran
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
    assert sorted(ran) == ["own", "shared", "version"]
    assert ids_in(amqp_url, names[V2]) == ["other"]
    await queue.aclose()


@pytest.mark.parametrize("passed_on", [False, True])
async def test_a_transient_fault_is_retried_where_the_task_was(
    amqp_url: str, queue_name: str, names: dict[str, str], passed_on: bool
) -> None:
    runs: list[str] = []

    async def blinks(task_id: str) -> None:
        runs.append(task_id)
        if len(runs) == 1:
            raise BackendUnavailable("the store blinked")

    process = LoopProcess(blinks, asyncio.get_running_loop())
    worker = CeleryWorker(
        amqp_url, process, queue=queue_name, version=V1, worker_id="w1", backoff_s=0.1
    )
    queue = CeleryQueue(amqp_url, queue=queue_name, worker_wait_s=WAIT_S)
    await queue.start()
    # Passed on: its worker queue's (another worker's) wait ended; it came by the version's.
    route = QueueRoute(version=V1, worker="w2" if passed_on else "w1")
    with consuming(worker):
        await queue.enqueue("t1", route=route)
        deadline = time.monotonic() + 10
        while len(runs) < 2:
            assert time.monotonic() < deadline, runs
            await asyncio.sleep(0.05)
    assert process.given_up == []
    await queue.aclose()


async def test_a_task_given_up_from_a_worker_queue_is_dead_after_one_run(
    amqp_url: str, queue_name: str, names: dict[str, str]
) -> None:
    runs: list[str] = []

    async def buggy(task_id: str) -> None:
        runs.append(task_id)
        raise RuntimeError("a bug")

    process = LoopProcess(buggy, asyncio.get_running_loop())
    worker = CeleryWorker(amqp_url, process, queue=queue_name, version=V1, worker_id="w1")
    queue = CeleryQueue(amqp_url, queue=queue_name)
    await queue.start()
    with consuming(worker):
        await queue.enqueue("poison", route=QueueRoute(version=V1, worker="w1"))
        dead = await asyncio.to_thread(wait_ids, amqp_url, names["dead"], 1)
    assert dead == ["poison"]
    assert runs == ["poison"]
    assert [task_id for task_id, _ in process.given_up] == ["poison"]
    await queue.aclose()


def test_a_worker_with_no_version_has_its_own_queue_only() -> None:
    process = LoopProcess(ignore, asyncio.new_event_loop())
    worker = CeleryWorker("amqp://localhost//", process, queue="jobs", worker_id="w9")
    assert worker.worker_options()["queues"] == ["jobs", "jobs.w.w9"]
    [own] = worker.routed
    assert own.queue_arguments["x-dead-letter-routing-key"] == "jobs"
