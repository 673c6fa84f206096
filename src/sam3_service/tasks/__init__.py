"""Tasks: records, their store and queue, and the factories that pick them by URL."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..errors import ConfigError
from .base import (
    DEFAULT_WORKER_WAIT_S,
    MUTABLE_FIELDS,
    EmbeddedRunner,
    QueueRoute,
    ShareRecord,
    ShareStore,
    TaskQueue,
    TaskRecord,
    TaskRunner,
    TaskStatus,
    TaskStore,
    WorkerProcess,
)

if TYPE_CHECKING:  # celery loads only when a broker is configured
    from .celery import CeleryWorker

__all__ = [
    "MUTABLE_FIELDS",
    "EmbeddedRunner",
    "QueueRoute",
    "ShareRecord",
    "ShareStore",
    "TaskQueue",
    "TaskRecord",
    "TaskRunner",
    "TaskStatus",
    "TaskStore",
    "WorkerProcess",
    "open_share_store",
    "open_task_queue",
    "open_task_store",
    "open_task_worker",
]

_SQL_SCHEMES = ("sqlite", "postgresql", "postgres")
_BROKER_SCHEMES = ("amqp", "amqps")


async def open_task_store(url: str) -> TaskStore:
    """A store for `sqlite:///path` or `postgresql+psycopg://...`, its schema brought up to date.

    Raises ConfigError for any other URL, BackendUnavailable if the database cannot be reached.
    """
    if urlsplit(url).scheme.partition("+")[0] not in _SQL_SCHEMES:
        raise ConfigError(f"the task database must be sqlite:// or postgresql://, got {url!r}")
    from ..database import upgrade_database
    from .sql_store import SqlTaskStore

    await asyncio.to_thread(upgrade_database, url)
    return SqlTaskStore(url)


def open_share_store(url: str) -> ShareStore:
    """Share records in the task database at `url`, whose schema `open_task_store` brought up
    to date. Raises ConfigError for a URL that is not SQLite or PostgreSQL."""
    if urlsplit(url).scheme.partition("+")[0] not in _SQL_SCHEMES:
        raise ConfigError(f"the task database must be sqlite:// or postgresql://, got {url!r}")
    from .sql_shares import SqlShareStore

    return SqlShareStore(url)


def open_task_queue(
    url: str,
    *,
    workers: int = 1,
    max_depth: int = 1000,
    name: str = "sam3.tasks",
    worker_wait_s: float = DEFAULT_WORKER_WAIT_S,
    by_worker: bool = True,
) -> TaskQueue:
    """The queue for `url` (call its `start()`): in-process for an empty URL, whose jobs run
    on `workers` tasks of this process (`InProcessQueue.serve`); Celery on RabbitMQ for
    `amqp://`, which only publishes to the queue `name` (its jobs run in `sam3-service worker`
    processes: `open_task_worker`), routing tasks to workers as `CeleryQueue` says.

    Raises ConfigError for any other URL.
    """
    if not url:
        from .inprocess import InProcessQueue

        return InProcessQueue(workers=workers, max_depth=max_depth)
    _require_broker(url)
    from .celery import CeleryQueue

    return CeleryQueue(
        url, queue=name, max_depth=max_depth, worker_wait_s=worker_wait_s, by_worker=by_worker
    )


def open_task_worker(url: str, process: WorkerProcess, **options: Any) -> CeleryWorker:
    """The worker that consumes the `amqp://` queue at `url`, opening `process` in each of its
    pool processes; `options` are `CeleryWorker`'s. Raises ConfigError for any other URL."""
    _require_broker(url)
    from .celery import CeleryWorker

    return CeleryWorker(url, process, **options)


def _require_broker(url: str) -> None:
    if urlsplit(url).scheme not in _BROKER_SCHEMES:
        raise ConfigError(f"the broker URL must be empty or amqp://, got {url!r}")
