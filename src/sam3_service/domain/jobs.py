"""Tasks, as callers see them: submit, run, look up, cancel, wait, and the synchronous path.

Submitting lives in `submission`, running in `running`; each kind's work in `kinds`.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from ..errors import TRANSIENT_ERRORS, Conflict, Sam3Error, UnsupportedMedia, error_from_json
from ..tasks.base import TaskRecord, TaskStatus, utcnow
from . import kinds, model_traffic, waiting
from .kinds import TaskRequest
from .results import load_result
from .running import UNFINISHED, give_up, requeue_unfinished, run
from .services import Services
from .submission import admit, submit

__all__ = [
    "cancel",
    "get",
    "give_up",
    "requeue_unfinished",
    "run",
    "segment_now",
    "submit",
    "wait",
]


async def get(services: Services, task_id: str, *, owner: str | None = None) -> TaskRecord:
    """The task `owner` names `task_id` (None: any owner's). Raises NotFound, the same for
    another owner's task as for one that never existed."""
    return await services.store.find(task_id, owner=owner)


async def cancel(services: Services, task_id: str, *, owner: str | None = None) -> TaskRecord:
    """Cancel a queued or running task. Raises NotFound, or Conflict once it finished (also
    when it was cancelled already)."""
    record = await get(services, task_id, owner=owner)
    updated = await services.store.update(
        record.id, expect=UNFINISHED, status=TaskStatus.CANCELLED, finished_at=utcnow()
    )
    if updated is None:
        current = await services.store.get(record.id)
        raise Conflict(f"task {task_id} already {current.status.value}; nothing to cancel")
    return updated


async def segment_now(services: Services, **request: Any) -> tuple[TaskRecord, dict[str, Any]]:
    """Submit and wait for the result: inline where this process holds the model (on the
    version the request routes to, held until it ends), else via the queue, answering
    TimedOut (with the task id to poll) after `sync_timeout_s`."""
    task_request = TaskRequest(**request)
    refusal = kinds.handler(kinds.kind_of(task_request)).sync_refusal
    if refusal is not None:
        raise UnsupportedMedia(refusal)
    if services.models is None:
        return await _through_workers(services, task_request)
    chosen = model_traffic.route(services, task_request)
    version = chosen.version if chosen else None
    async with services.models.lease(version) as host:
        host.engine()  # raises ModelNotReady while loading: no task is recorded
        started = time.perf_counter()
        task_request = replace(task_request, model_version=version)
        admitted = await admit(services, task_request, enqueue=False, defer_store=True)
        record, result = admitted.record, None
        if admitted.created and record.status is TaskStatus.QUEUED:
            try:
                result = await run(services, record.id, prepared=admitted.prepared)
            except TRANSIENT_ERRORS as exc:  # nothing retries an inline run: its outcome
                await give_up(services, record.id, exc)
            if chosen is not None:
                latency_ms = (time.perf_counter() - started) * 1000
                await model_traffic.served(
                    services,
                    task_request,
                    chosen,
                    record,
                    admitted.prepared,
                    result,
                    latency_ms=latency_ms,
                )
        return await _answer(services, record, result)


async def _through_workers(
    services: Services, request: TaskRequest
) -> tuple[TaskRecord, dict[str, Any]]:
    """Queue the task and wait for its result; the rollback watch hears how a routed task
    that ran for this request ended (not a cached answer, nor one it joined)."""
    started = time.perf_counter()
    admitted = await admit(services, request)
    version = admitted.record.model_version
    if not admitted.created or admitted.record.status.finished or version is None:
        return await _answer(services, admitted.record)
    try:
        answer = await _answer(services, admitted.record)
    except Sam3Error:
        latency_ms = (time.perf_counter() - started) * 1000
        await model_traffic.watched(services, version, ok=False, latency_ms=latency_ms)
        raise
    latency_ms = (time.perf_counter() - started) * 1000
    await model_traffic.watched(services, version, ok=True, latency_ms=latency_ms)
    return answer


async def _answer(
    services: Services, record: TaskRecord, result: dict[str, Any] | None = None
) -> tuple[TaskRecord, dict[str, Any]]:
    """The task's result: `result` when it ran here, else once it finished."""
    if result is not None:
        return record, result  # succeeded here, and stored: no need to read it back
    if not record.status.finished:
        record = await wait(services, record, timeout_s=services.sync_timeout_s)
    if record.status is TaskStatus.FAILED and record.error:
        raise error_from_json(record.error)
    return record, await load_result(services.blobs, record)


async def wait(services: Services, task: TaskRecord, *, timeout_s: float) -> TaskRecord:
    """Wait until the task finishes, woken by its notice (see `waiting`). Raises TimedOut
    (with the id its owner knows)."""
    return await waiting.wait_finished(
        services.store,
        services.notifier,
        task.id,
        timeout_s=timeout_s,
        poll_s=services.wait_poll_s,
        name=task.public_id,
    )
