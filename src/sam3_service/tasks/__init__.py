"""Tasks: records, their store and queue, and the factories that pick them by URL."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from ..errors import ConfigError
from .base import MUTABLE_FIELDS, JobHandler, TaskQueue, TaskRecord, TaskStatus, TaskStore

__all__ = [
    "MUTABLE_FIELDS",
    "JobHandler",
    "TaskQueue",
    "TaskRecord",
    "TaskStatus",
    "TaskStore",
    "open_task_queue",
    "open_task_store",
    "upgrade_database",
]

_SQL_SCHEMES = ("sqlite", "postgresql", "postgres")


async def open_task_store(url: str) -> TaskStore:
    """A store for `sqlite:///path` or `postgresql+psycopg://...`, its schema brought up to date.

    Raises ConfigError for any other URL, BackendUnavailable if the database cannot be reached.
    """
    await asyncio.to_thread(upgrade_database, url)
    from .sql_store import SqlTaskStore

    return SqlTaskStore(url)


def upgrade_database(url: str) -> None:
    """Apply the pending schema migrations to the task database at `url` (`db upgrade`)."""
    if urlsplit(url).scheme.partition("+")[0] not in _SQL_SCHEMES:
        raise ConfigError(f"the task database must be sqlite:// or postgresql://, got {url!r}")
    from . import sql_store

    sql_store.upgrade_database(url)


def open_task_queue(
    url: str, handler: JobHandler, *, workers: int = 1, max_depth: int = 1000
) -> TaskQueue:
    """The in-process queue for an empty URL (call its `start()`); `handler` runs each job.

    Raises ConfigError for any other URL.
    """
    if not url:
        from .inprocess import InProcessQueue

        return InProcessQueue(handler, workers=workers, max_depth=max_depth)
    if urlsplit(url).scheme in ("amqp", "amqps"):
        raise ConfigError(f"the Celery queue for {url!r} (amqp://) is not available yet")
    raise ConfigError(f"the broker URL must be empty or amqp://, got {url!r}")
