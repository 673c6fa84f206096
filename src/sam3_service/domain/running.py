"""Running queued tasks in any worker, and the queue's hooks: give a task up, queue again
what a stopped process left unfinished."""

from __future__ import annotations

import logging
from typing import Any

from ..errors import TRANSIENT_ERRORS, Sam3Error
from ..tasks.base import TaskRecord, TaskStatus, utcnow
from . import image_input, inflight, kinds
from .services import Services

log = logging.getLogger(__name__)

UNFINISHED = {TaskStatus.QUEUED, TaskStatus.RUNNING}


async def run(
    services: Services,
    task_id: str,
    *,
    prepared: image_input.PreparedImage | None = None,
) -> dict[str, Any] | None:
    """Execute a queued task and record its outcome. Safe to call again for a redelivered id.

    A transient fault (`TRANSIENT_ERRORS`) puts the task back in `queued` and is raised: its
    queue tries it again later or gives it up (`give_up`). `prepared`: the task's input as its
    submitter decoded it (the inline path), used instead of reading it back. Returns the
    result of an image task that succeeded here (as stored), else None.
    """
    record = await services.store.update(
        task_id, expect=UNFINISHED, status=TaskStatus.RUNNING, started_at=utcnow()
    )
    if record is None:
        log.info("task %s is no longer pending; skipped", task_id)
        return None
    await services.store.update(task_id, attempts=record.attempts + 1)
    try:
        result_key, fields, result = await _execute(services, record, prepared)
    except TRANSIENT_ERRORS:
        await services.store.update(task_id, expect={TaskStatus.RUNNING}, status=TaskStatus.QUEUED)
        raise
    except Sam3Error as exc:
        await finish(services, record, TaskStatus.FAILED, error=exc.to_json())
    except Exception:
        log.exception("task %s failed", task_id)
        error = {"code": "internal_error", "message": "the task failed unexpectedly"}
        await finish(services, record, TaskStatus.FAILED, error=error)
    else:
        ended = await finish(
            services, record, TaskStatus.SUCCEEDED, result_key=result_key, progress=1.0, **fields
        )
        return result if ended else None
    return None


async def give_up(services: Services, task_id: str, error: Sam3Error) -> None:
    """Fail a task that its queue will not try again (a poison input): it ends with `error`."""
    record = await services.store.update(
        task_id,
        expect=UNFINISHED,
        status=TaskStatus.FAILED,
        error=error.to_json(),
        finished_at=utcnow(),
    )
    if record is not None:
        log.warning("task %s failed for good: %s", task_id, error.message)
        await inflight.release(services, record)


async def requeue_unfinished(services: Services, *, limit: int = 1000) -> list[str]:
    """The tasks a stopped process left queued or running, oldest first, each back in
    `queued`: for a queue that keeps nothing across restarts to queue again (a durable
    broker redelivers by itself)."""
    oldest = list(reversed(await services.store.list(statuses=UNFINISHED, limit=limit)))
    for record in oldest:
        if record.status is TaskStatus.RUNNING:
            await services.store.update(
                record.id, expect={TaskStatus.RUNNING}, status=TaskStatus.QUEUED
            )
    return [record.id for record in oldest]


async def finish(
    services: Services, record: TaskRecord, status: TaskStatus, **fields: Any
) -> TaskRecord | None:
    """Record a running task's outcome and release its de-duplication claim. Returns the
    updated record, None if the task had ended already (cancelled)."""
    updated = await services.store.update(
        record.id, expect=UNFINISHED, status=status, finished_at=utcnow(), **fields
    )
    if updated is None:
        log.info("task %s was cancelled while running; its outcome is discarded", record.id)
    await inflight.release(services, record)
    return updated


async def _execute(
    services: Services, record: TaskRecord, prepared: image_input.PreparedImage | None
) -> tuple[str, dict[str, Any], dict[str, Any] | None]:
    """Run a task by its kind; returns the key of its stored result, the record fields it sets,
    and the result when the caller may answer with it (an image task segmented here)."""
    outcome = await kinds.handler(record.kind).execute(services, record, prepared)
    return outcome.result_key, outcome.fields, outcome.result
