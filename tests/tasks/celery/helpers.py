"""Celery test helpers: reading queues, and a worker on a thread of the test process."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager

from amqp import Message
from celery.app.trace import setup_worker_optimizations
from celery.contrib.testing.worker import start_worker
from kombu import Connection

from sam3_service.errors import Sam3Error
from sam3_service.tasks.celery import CeleryWorker
from sam3_service.tasks.celery.topology import declare_queues
from tests.tasks.handlers import Handler


def take_messages(url: str, queue: str) -> list[Message]:
    """Remove and return every message waiting in `queue`."""
    taken = []
    with Connection(url, connect_timeout=3) as conn:
        channel = conn.default_channel
        while (message := channel.basic_get(queue, no_ack=True)) is not None:
            taken.append(message)
    return taken


def hold_and_drop(url: str, queue: str) -> None:
    """Take a message without acknowledging it, then disconnect, as a dying worker does."""
    with Connection(url, connect_timeout=3) as conn:
        assert conn.default_channel.basic_get(queue, no_ack=False) is not None


def task_args(message: Message) -> list[object]:
    """The positional arguments of a Celery task message."""
    args, _kwargs, _embed = json.loads(message.body)
    return list(args)


@contextmanager
def consuming(worker: CeleryWorker) -> Iterator[None]:
    """Run `worker` with the solo pool on a thread of this process, for the block.

    Like `sam3-service worker`, it points Celery's per-process task registry at this worker's
    app: one Celery worker at a time per process.
    """
    declare_queues(worker.app, worker.queue, *worker.routed)
    worker.app.conf.broker_heartbeat = 0  # the solo pool's blocking loop sends none
    setup_worker_optimizations(worker.app, worker.hostname)
    with (
        worker.process_hooks(),
        start_worker(
            worker.app,
            hostname=worker.hostname,
            perform_ping_check=False,
            loglevel="WARNING",
            queues=worker.worker_options()["queues"],
            use_eventloop=False,
        ),
    ):
        yield  # on exit, the worker's own thread stops it (within its 2 s poll)


class LoopProcess:
    """A worker process whose jobs run `handler` on `loop` (a test's event loop).

    `give_up` calls are recorded as (task id, error).
    """

    def __init__(self, handler: Handler, loop: asyncio.AbstractEventLoop) -> None:
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
