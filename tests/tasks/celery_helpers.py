"""Celery test helpers: the RabbitMQ URL, throw-away queues, and a worker on a thread."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from celery.app.trace import setup_worker_optimizations
from celery.contrib.testing.worker import start_worker
from kombu import Connection

from sam3_service.errors import Sam3Error
from sam3_service.tasks import JobHandler
from sam3_service.tasks.celery_queue import CeleryWorker, declare_queues


@pytest.fixture(scope="session")
def amqp_url() -> str:
    """The RabbitMQ URL (SAM3_TEST_AMQP_URL overrides it); fails fast if the server is down."""
    url = os.environ.get("SAM3_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
    try:
        with Connection(url, connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:
        pytest.fail(f"RabbitMQ at {url} is unreachable (deselect with -m 'not amqp'): {exc}")
    return url


@pytest.fixture
def queue_name(amqp_url: str) -> Iterator[str]:
    """A queue name no other test uses; the queue and its dead-letter queue go afterwards."""
    name = f"sam3-test-{uuid.uuid4().hex[:12]}"
    yield name
    delete_queues(amqp_url, name)


def delete_queues(url: str, name: str) -> None:
    """Delete the work and dead-letter queues `name` and `name.dead`, and their exchanges."""
    with Connection(url, connect_timeout=3) as conn:
        channel = conn.default_channel
        for queue in (name, f"{name}.dead"):
            channel.queue_delete(queue)
            channel.exchange_delete(queue)


def take_messages(url: str, queue: str) -> list[tuple[object, bool]]:
    """Remove every message waiting in `queue`: (decoded body, redelivered) each."""
    taken = []
    with Connection(url, connect_timeout=3) as conn:
        simple = conn.SimpleQueue(queue, no_ack=False, queue_opts={"passive": True})
        try:
            while True:
                try:
                    message = simple.get(timeout=0.5)
                except simple.Empty:
                    return taken
                taken.append((message.decode(), bool(message.delivery_info.get("redelivered"))))
                message.ack()
        finally:
            simple.close()


@contextmanager
def consuming(worker: CeleryWorker) -> Iterator[None]:
    """Run `worker` with the solo pool on a thread of this process, for the block.

    Like `sam3-service worker`, it points Celery's per-process task registry at this worker's
    app: one Celery worker at a time per process.
    """
    declare_queues(worker.app, worker.queue)
    worker.app.conf.broker_heartbeat = 0  # the solo pool's blocking loop sends none
    setup_worker_optimizations(worker.app, worker.hostname)
    with (
        worker.process_hooks(),
        start_worker(
            worker.app,
            hostname=worker.hostname,
            perform_ping_check=False,
            loglevel="WARNING",
            queues=[worker.queue],
            use_eventloop=False,
        ) as controller,
    ):
        yield
        controller.stop()


class LoopProcess:
    """A worker process whose jobs run `handler` on `loop` (a test's event loop).

    `give_up` calls are recorded as (task id, error).
    """

    def __init__(self, handler: JobHandler, loop: asyncio.AbstractEventLoop) -> None:
        self.handler = handler
        self.loop = loop
        self.given_up: list[tuple[str, Sam3Error]] = []

    async def open(self) -> None:
        """Nothing to open."""

    async def run(self, task_id: str) -> None:
        """Run the handler on the test's loop and wait for it."""
        future = asyncio.run_coroutine_threadsafe(self.handler(task_id), self.loop)
        await asyncio.wrap_future(future)

    async def give_up(self, task_id: str, error: Sam3Error) -> None:
        """Record the failure."""
        self.given_up.append((task_id, error))

    async def aclose(self) -> None:
        """Nothing to close."""
