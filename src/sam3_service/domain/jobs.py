"""Tasks: submit, run (in any worker), look up, cancel, and the synchronous path over them."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from typing import Any

from ..errors import (
    BackendUnavailable,
    Busy,
    Conflict,
    InvalidInput,
    ModelNotReady,
    NotFound,
    Sam3Error,
    TimedOut,
    TooLarge,
    UnsupportedMedia,
)
from ..tasks.base import TaskRecord, TaskStatus, utcnow
from . import segment
from .params import SegmentParams
from .services import Services

log = logging.getLogger(__name__)

IMAGE_KIND = "image"
_UNFINISHED = {TaskStatus.QUEUED, TaskStatus.RUNNING}
_POLL_S = 0.05


def new_task_id() -> str:
    return uuid.uuid4().hex


async def submit(
    services: Services,
    *,
    params: SegmentParams,
    data: bytes | None = None,
    image_id: str | None = None,
    mask_data: bytes | None = None,
    owner: str = "anonymous",
    task_id: str | None = None,
    enqueue: bool = True,
) -> TaskRecord:
    """Check and store the input, then record and queue a task.

    Bad input fails here, before anything is queued. A known result (same model, image and
    prompt) completes the task at once. Submitting an existing `task_id` returns that task.
    """
    segment.require_image_source(data, image_id)
    if data is not None:
        decoded = await segment.store_image(services, data)
    else:
        decoded = await segment.load_image(services, str(image_id))
    if mask_data is not None:
        params = params.model_copy(
            update={"mask_key": await segment.store_mask(services, mask_data, decoded)}
        )
    segment.check_prompt(params, decoded, services.limits)
    record = TaskRecord(
        id=task_id or new_task_id(),
        kind=IMAGE_KIND,
        input_key=segment.image_key(decoded.sha256),
        params=params.model_dump(mode="json"),
        owner=owner,
    )
    cached_key = await _cached_result_key(services, record)
    if cached_key is not None:
        record.status, record.progress, record.result_key = TaskStatus.SUCCEEDED, 1.0, cached_key
        record.finished_at = utcnow()
    record, created = await services.store.create(record)
    if created and enqueue and record.status is TaskStatus.QUEUED:
        await services.queue.enqueue(record.id)
    return record


async def run(services: Services, task_id: str) -> None:
    """Execute a queued task and record its outcome. Safe to call again for a redelivered id."""
    record = await services.store.update(
        task_id, expect=_UNFINISHED, status=TaskStatus.RUNNING, started_at=utcnow()
    )
    if record is None:
        log.info("task %s is no longer pending; skipped", task_id)
        return
    await services.store.update(task_id, attempts=record.attempts + 1)
    try:
        result_key = await _execute(services, record)
    except Sam3Error as exc:
        await _finish(services, task_id, TaskStatus.FAILED, error=_error_json(exc))
    except Exception:
        log.exception("task %s failed", task_id)
        error = {"code": "internal_error", "message": "the task failed unexpectedly"}
        await _finish(services, task_id, TaskStatus.FAILED, error=error)
    else:
        await _finish(services, task_id, TaskStatus.SUCCEEDED, result_key=result_key, progress=1.0)


async def get(services: Services, task_id: str, *, owner: str | None = None) -> TaskRecord:
    """The task, if `owner` may see it (None: any owner). Raises NotFound."""
    record = await services.store.get(task_id)
    if owner is not None and record.owner != owner:
        raise NotFound(f"no task {task_id!r}")
    return record


async def cancel(services: Services, task_id: str, *, owner: str | None = None) -> TaskRecord:
    """Cancel a queued or running task. Raises NotFound, or Conflict if it already finished."""
    record = await get(services, task_id, owner=owner)
    updated = await services.store.update(
        task_id, expect=_UNFINISHED, status=TaskStatus.CANCELLED, finished_at=utcnow()
    )
    if updated is None:
        current = await services.store.get(task_id)
        if current.status is TaskStatus.CANCELLED:
            return current
        raise Conflict(f"task {task_id} already {current.status.value}; nothing to cancel")
    return updated if updated else record


async def load_result(services: Services, record: TaskRecord) -> dict[str, Any]:
    """The result JSON of a succeeded task. Raises NotFound or Conflict."""
    if record.status is not TaskStatus.SUCCEEDED or record.result_key is None:
        raise Conflict(f"task {record.id} is {record.status.value}; it has no result")
    return json.loads(await services.blobs.get(record.result_key))


async def segment_now(services: Services, **submit_args: Any) -> tuple[TaskRecord, dict[str, Any]]:
    """Submit and wait for the result: inline where this process holds the model, else via
    the queue, answering TimedOut (with the task id to poll) after `sync_timeout_s`."""
    inline = services.models is not None
    record = await submit(services, enqueue=not inline, **submit_args)
    if inline and record.status is TaskStatus.QUEUED:
        await run(services, record.id)
    record = await wait(services, record.id, timeout_s=services.sync_timeout_s)
    if record.status is TaskStatus.FAILED and record.error:
        raise _error_from_json(record.error)
    return record, await load_result(services, record)


async def wait(services: Services, task_id: str, *, timeout_s: float) -> TaskRecord:
    """Poll the store until the task finishes. Raises TimedOut."""
    deadline = time.monotonic() + timeout_s
    while True:
        record = await services.store.get(task_id)
        if record.status.finished:
            return record
        if time.monotonic() >= deadline:
            raise TimedOut(
                f"task {task_id} is still {record.status.value} after {timeout_s:g} s; "
                f"poll GET /v1/tasks/{task_id}",
                task_id=task_id,
            )
        await asyncio.sleep(_POLL_S)


async def _execute(services: Services, record: TaskRecord) -> str:
    params = SegmentParams.model_validate(record.params)
    cached_key = await _cached_result_key(services, record)
    if cached_key is not None:
        return cached_key
    if services.models is None:
        raise Sam3Error("this process has no model to run tasks with")
    started = time.perf_counter()
    decoded = await segment.load_image(services, record.input_key.removeprefix("images/"))
    mask = await segment.load_mask(services, params.mask_key, decoded)
    decode_ms = (time.perf_counter() - started) * 1000
    await services.store.update(record.id, progress=0.1)
    result = await services.models.run(
        lambda engine: segment.segment_decoded(
            engine,
            decoded,
            params,
            limits=services.limits,
            defaults=services.thresholds,
            mask=mask,
            decode_ms=decode_ms,
        )
    )
    key = segment.result_key(record.id)
    await services.blobs.put(key, json.dumps(result).encode(), "application/json")
    version = result["model"]["version"]
    await services.cache.set(
        _cache_key(services, record, version), key.encode(), services.result_ttl_s
    )
    return key


async def _cached_result_key(services: Services, record: TaskRecord) -> str | None:
    info = services.models.info if services.models else None
    if info is None:
        return None
    cached = await services.cache.get(_cache_key(services, record, info.version))
    if cached is None:
        return None
    key = cached.decode()
    return key if await services.blobs.exists(key) else None


def _cache_key(services: Services, record: TaskRecord, version: str) -> str:
    params = SegmentParams.model_validate(record.params)
    identity = params.cache_identity(services.thresholds)
    return segment.result_cache_key(version, record.input_key, identity)


async def _finish(services: Services, task_id: str, status: TaskStatus, **fields: Any) -> None:
    updated = await services.store.update(
        task_id, expect={TaskStatus.RUNNING}, status=status, finished_at=utcnow(), **fields
    )
    if updated is None:
        log.info("task %s was cancelled while running; its outcome is discarded", task_id)


def _error_json(exc: Sam3Error) -> dict[str, Any]:
    return {"code": exc.code, "message": exc.message}


def _error_from_json(error: dict[str, Any]) -> Sam3Error:
    exc_type = _TASK_ERRORS.get(error.get("code", ""), Sam3Error)
    return exc_type(error.get("message", "the task failed"))


# The errors a task can end with, by code, so that the synchronous path re-raises the same kind.
_TASK_ERRORS: dict[str, type[Sam3Error]] = {
    exc.code: exc
    for exc in (
        InvalidInput,
        UnsupportedMedia,
        TooLarge,
        NotFound,
        Busy,
        ModelNotReady,
        BackendUnavailable,
    )
}
