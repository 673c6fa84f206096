"""The queues on RabbitMQ, which both sides declare (idempotently):

exchange <queue>      -> queue <queue>       durable, every worker takes its tasks;
                                              a rejected message goes to <queue>.dead
                      -> queue <queue>.v.<version>   durable, the tasks of one model version:
                                              any worker holding it takes them; rejected: .dead
                      -> queue <queue>.w.<worker>    one worker's own (warm caches); a message
                                              waits there `wait_s` at most (also when its
                                              worker died holding it: a requeued message keeps
                                              its expiry), then moves on to the worker's
                                              version queue (or <queue>); the queue goes away
                                              once unused for WORKER_QUEUE_EXPIRES_S
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
    "declare",
    "declare_queues",
    "message_count",
    "version_queue",
    "work_queue",
    "worker_queue",
]

CONNECT_TIMEOUT_S = 4.0
WORKER_QUEUE_EXPIRES_S = 300.0  # well past a dead worker's last report (3 heartbeats)
BROKER_ERRORS = (OSError, KombuError, AMQPError)


def declare_queues(app: Celery, queue: str, *routed: Queue) -> None:
    """Declare the work queue, the dead-letter queue, their exchanges and the `routed` queues
    (version queues before the worker queues that lead to them; idempotent)."""
    declare(app, _dead_queue(queue), work_queue(queue), *routed)


def declare(app: Celery, *queues: Queue) -> None:
    """Declare `queues` now, in order (kombu's own declaring remembers what it declared, but a
    worker's queue may have expired since). Raises one of BROKER_ERRORS."""
    with _connection(app) as conn:
        for queue in queues:
            queue(conn.default_channel).declare()


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


def version_queue(queue: str, version: str) -> Queue:
    """The tasks of model `version`: any worker holding it takes them."""
    name = f"{queue}.v.{version}"
    dead = dead_name(queue)
    return Queue(
        name,
        Exchange(queue, type="direct", durable=True),
        routing_key=name,
        durable=True,
        queue_arguments={"x-dead-letter-exchange": dead, "x-dead-letter-routing-key": dead},
    )


def worker_queue(queue: str, worker: str, *, version: str | None, wait_s: float) -> Queue:
    """The tasks routed to `worker` (which holds model `version`, if known): each waits there
    `wait_s` at most, then moves on to the version's queue (else to `queue`), as does a message
    whose worker died holding it. Unused for WORKER_QUEUE_EXPIRES_S, the queue is deleted."""
    name = f"{queue}.w.{worker}"
    onward = version_queue(queue, version).name if version else queue
    return Queue(
        name,
        Exchange(queue, type="direct", durable=True),
        routing_key=name,
        durable=True,
        queue_arguments={
            "x-dead-letter-exchange": queue,
            "x-dead-letter-routing-key": onward,
            "x-message-ttl": max(1, round(wait_s * 1000)),
            "x-expires": round(WORKER_QUEUE_EXPIRES_S * 1000),
        },
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
