"""The queues on RabbitMQ, which both sides declare (idempotently):

exchange <queue>      -> queue <queue>       durable; a rejected message goes to <queue>.dead
exchange <queue>.dead -> queue <queue>.dead  durable; read or replayed by operators
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from amqp.exceptions import AMQPError
from kombu import Connection, Exchange, Queue
from kombu.exceptions import KombuError

if TYPE_CHECKING:
    from celery import Celery

__all__ = [
    "BROKER_ERRORS",
    "CONNECT_TIMEOUT_S",
    "dead_name",
    "declare_queues",
    "message_count",
    "work_queue",
]

CONNECT_TIMEOUT_S = 4.0
BROKER_ERRORS = (OSError, KombuError, AMQPError)


def declare_queues(app: Celery, queue: str) -> None:
    """Declare the work queue, the dead-letter queue and their exchanges (idempotent)."""
    with _connection(app) as conn:
        channel = conn.default_channel
        _dead_queue(queue)(channel).declare()
        work_queue(queue)(channel).declare()


def message_count(app: Celery, queue: str) -> int:
    """How many messages wait in `queue` (not those delivered and not yet acknowledged)."""
    try:
        return _message_count(app, queue)
    except BROKER_ERRORS:  # a pooled connection that the broker dropped: once more, afresh
        return _message_count(app, queue)


def work_queue(name: str) -> Queue:
    """The queue `name`, whose rejected messages go to its dead-letter queue."""
    dead = dead_name(name)
    return Queue(
        name,
        Exchange(name, type="direct", durable=True),
        routing_key=name,
        durable=True,
        queue_arguments={"x-dead-letter-exchange": dead, "x-dead-letter-routing-key": dead},
    )


def dead_name(queue: str) -> str:
    """The dead-letter queue of `queue`: the task ids given up."""
    return f"{queue}.dead"


def _dead_queue(name: str) -> Queue:
    dead = dead_name(name)
    return Queue(dead, Exchange(dead, type="direct", durable=True), routing_key=dead, durable=True)


def _message_count(app: Celery, queue: str) -> int:
    with _connection(app) as conn:
        return int(conn.default_channel.queue_declare(queue, passive=True).message_count)


@contextlib.contextmanager
def _connection(app: Celery) -> Iterator[Connection]:
    """A pooled broker connection, connected with a single attempt (no endless retrying)."""
    with app.pool.acquire(block=True, timeout=CONNECT_TIMEOUT_S) as conn:
        try:
            conn.ensure_connection(max_retries=1)
            yield conn
        except BROKER_ERRORS:
            conn.collect()  # forget the broken socket: the next use connects afresh
            raise
