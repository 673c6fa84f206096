"""Tasks: submit, run (in any worker), look up, cancel, and the synchronous path over them."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
import uuid
from typing import Any

from ..errors import (
    TRANSIENT_ERRORS,
    BackendUnavailable,
    Busy,
    Conflict,
    InvalidInput,
    ModelNotReady,
    NotFound,
    Sam3Error,
    TooLarge,
    UnsupportedMedia,
)
from ..tasks.base import TaskRecord, TaskStatus, utcnow
from . import fleet, image_input, segment, video, waiting
from .params import SegmentParams, TaskParams
from .services import Services

log = logging.getLogger(__name__)

IMAGE_KIND = image_input.IMAGE_KIND
_UNFINISHED = {TaskStatus.QUEUED, TaskStatus.RUNNING}
_POLL_S = 0.05
# De-duplication: how long an in-flight claim lasts at most (the worker removes it when the task
# ends), and how long a caller waits for the claiming caller's record to appear in the store.
_INFLIGHT_TTL_S = 3600
_INFLIGHT_CREATE_WAIT_S = 2.0


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
    video_options: video.VideoOptions | None = None,
) -> TaskRecord:
    """Check and store the input, then record and queue a task.

    Bad input fails here, before anything is queued. A known result (same model, image and
    prompt) completes the task at once. Submitting an existing `task_id` returns that task, and
    so does the same request (same owner, image and prompt) while an earlier one is in flight.
    A `task_id` is the owner's own name for the task: another owner's same id is another task.
    Uploaded videos become video tasks (`video_options` applies to them only).
    """
    record, _, _ = await _submit(
        services,
        params=params,
        data=data,
        image_id=image_id,
        mask_data=mask_data,
        owner=owner,
        task_id=task_id,
        enqueue=enqueue,
        video_options=video_options,
    )
    return record


async def _submit(
    services: Services,
    *,
    params: SegmentParams,
    data: bytes | None = None,
    image_id: str | None = None,
    mask_data: bytes | None = None,
    owner: str = "anonymous",
    task_id: str | None = None,
    enqueue: bool = True,
    video_options: video.VideoOptions | None = None,
    defer_store: bool = False,
) -> tuple[TaskRecord, bool, image_input.PreparedImage | None]:
    """`submit`, also saying whether this call created the task (False: it joined one), and
    the decoded input of an image task it created to run (None if it needs no run).

    `defer_store`: leave a new upload for the caller's `run` to store (the inline path)."""
    prepared = None
    if data is not None and video.is_video(data):
        if image_id is not None or mask_data is not None:
            raise InvalidInput("a video task takes the video file alone: no image_id, no mask")
        record = await video.new_record(
            services,
            params=params,
            options=video_options or video.VideoOptions(),
            data=data,
            owner=owner,
            task_id=new_task_id(),
        )
    elif video_options is not None:
        raise InvalidInput("frame_stride, max_frames and prompt_frame are for videos only")
    else:
        record = await image_input.expected_record(
            services,
            params=params,
            data=data,
            image_id=image_id,
            mask_data=mask_data,
            owner=owner,
            task_id=new_task_id(),
        )
    record.client_id = task_id
    cached_key = await _cached_result_key(services, record)  # before decoding anything
    if cached_key is not None:
        record.status, record.progress, record.result_key = TaskStatus.SUCCEEDED, 1.0, cached_key
        record.finished_at = utcnow()
    else:
        if record.kind == IMAGE_KIND:
            prepared = await image_input.prepare(
                services,
                record,
                params=params,
                data=data,
                mask_data=mask_data,
                defer_store=defer_store,
            )
        if task_id is None:  # a caller's own task_id is its idempotency key already
            joined = await _join_inflight(services, record)
            if joined is not None:
                return joined, False, None
    record, created = await services.store.create(record)
    if created and enqueue and record.status is TaskStatus.QUEUED:
        try:
            await services.queue.enqueue(record.id)
        except Sam3Error as exc:
            await _end(services, record, TaskStatus.FAILED, error=_error_json(exc))
            raise
    return record, created, prepared if created else None


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
        task_id, expect=_UNFINISHED, status=TaskStatus.RUNNING, started_at=utcnow()
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
        await _end(services, record, TaskStatus.FAILED, error=_error_json(exc))
    except Exception:
        log.exception("task %s failed", task_id)
        error = {"code": "internal_error", "message": "the task failed unexpectedly"}
        await _end(services, record, TaskStatus.FAILED, error=error)
    else:
        ended = await _end(
            services, record, TaskStatus.SUCCEEDED, result_key=result_key, progress=1.0, **fields
        )
        return result if ended else None
    return None


async def give_up(services: Services, task_id: str, error: Sam3Error) -> None:
    """Fail a task that its queue will not try again (a poison input): it ends with `error`."""
    record = await services.store.update(
        task_id,
        expect=_UNFINISHED,
        status=TaskStatus.FAILED,
        error=_error_json(error),
        finished_at=utcnow(),
    )
    if record is not None:
        log.warning("task %s failed for good: %s", task_id, error.message)
        await services.cache.delete(_inflight_key(services, record))


async def requeue_unfinished(services: Services, *, limit: int = 1000) -> list[str]:
    """The tasks a stopped process left queued or running, oldest first, each back in
    `queued`: for a queue that keeps nothing across restarts to queue again (a durable
    broker redelivers by itself)."""
    oldest = list(reversed(await services.store.list(statuses=_UNFINISHED, limit=limit)))
    for record in oldest:
        if record.status is TaskStatus.RUNNING:
            await services.store.update(
                record.id, expect={TaskStatus.RUNNING}, status=TaskStatus.QUEUED
            )
    return [record.id for record in oldest]


async def get(services: Services, task_id: str, *, owner: str | None = None) -> TaskRecord:
    """The task `owner` names `task_id` (None: any owner's). Raises NotFound, the same for
    another owner's task as for one that never existed."""
    return await services.store.find(task_id, owner=owner)


async def cancel(services: Services, task_id: str, *, owner: str | None = None) -> TaskRecord:
    """Cancel a queued or running task. Raises NotFound, or Conflict once it finished (also
    when it was cancelled already)."""
    record = await get(services, task_id, owner=owner)
    updated = await services.store.update(
        record.id, expect=_UNFINISHED, status=TaskStatus.CANCELLED, finished_at=utcnow()
    )
    if updated is None:
        current = await services.store.get(record.id)
        raise Conflict(f"task {task_id} already {current.status.value}; nothing to cancel")
    return updated


async def load_result(services: Services, record: TaskRecord) -> dict[str, Any]:
    """The result JSON of a succeeded task. Raises NotFound or Conflict."""
    if record.status is not TaskStatus.SUCCEEDED or record.result_key is None:
        raise Conflict(f"task {record.public_id} is {record.status.value}; it has no result")
    return json.loads(await services.blobs.get(record.result_key))


async def segment_now(services: Services, **submit_args: Any) -> tuple[TaskRecord, dict[str, Any]]:
    """Submit and wait for the result: inline where this process holds the model, else via
    the queue, answering TimedOut (with the task id to poll) after `sync_timeout_s`."""
    data = submit_args.get("data")
    if data is not None and video.is_video(data):
        raise UnsupportedMedia(
            "videos are segmented as tasks: POST the video to /v1/tasks, then poll "
            "GET /v1/tasks/{task_id} (its progress counts frames) for the result"
        )
    inline = services.models is not None
    if services.models is not None:
        services.models.engine()  # raises ModelNotReady while loading: no task is recorded
    record, created, prepared = await _submit(
        services, enqueue=not inline, defer_store=inline, **submit_args
    )
    result = None
    if inline and created and record.status is TaskStatus.QUEUED:
        try:
            result = await run(services, record.id, prepared=prepared)
        except TRANSIENT_ERRORS as exc:  # nothing retries an inline run: the fault is its outcome
            await give_up(services, record.id, exc)
    if result is not None:
        return record, result  # succeeded here, and stored: no need to read it back
    if not record.status.finished:
        record = await wait(services, record, timeout_s=services.sync_timeout_s)
    if record.status is TaskStatus.FAILED and record.error:
        raise _error_from_json(record.error)
    return record, await load_result(services, record)


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


async def _execute(
    services: Services, record: TaskRecord, prepared: image_input.PreparedImage | None
) -> tuple[str, dict[str, Any], dict[str, Any] | None]:
    """Run a task; returns the key of its stored result, the record fields it sets, and the
    result of an image task this call segmented (None otherwise)."""
    if record.kind == video.VIDEO_KIND:
        key, summary = await video.run_task(services, record)
        return key, _record_fields(summary), None
    params = TaskParams.model_validate(record.params)
    cached_key = await _cached_result_key(services, record)
    if cached_key is not None:
        if prepared is not None:
            await image_input.store(services, prepared, owner=record.owner)
        return cached_key, {"model_version": await _model_version(services)}, None
    if services.models is None:
        raise Sam3Error("this process has no model to run tasks with")
    started = time.perf_counter()
    if prepared is None or segment.image_key(prepared.decoded.sha256) != record.input_key:
        prepared = await _load_input(services, record, params)
    decoded, mask = prepared.decoded, prepared.mask
    feature_key = await segment.feature_key(services, record.owner, decoded.sha256)
    decode_ms = prepared.decode_ms + (time.perf_counter() - started) * 1000
    result, _, _ = await asyncio.gather(  # the model works while the upload is kept
        services.models.run(
            lambda engine: segment.segment_decoded(
                engine,
                decoded,
                params,
                limits=services.limits,
                defaults=services.thresholds,
                mask=mask,
                decode_ms=decode_ms,
                feature_key=feature_key,
            )
        ),
        services.store.update(record.id, progress=0.1),
        image_input.store(services, prepared, owner=record.owner),
    )
    key = segment.result_key(record.id)
    cache_key = _cache_key(services, record, result["model"]["version"])
    await asyncio.gather(  # a cached key counts only once its result exists: order is free
        services.blobs.put(key, json.dumps(result).encode(), "application/json"),
        services.cache.set(cache_key, key.encode(), services.result_ttl_s),
    )
    return key, _record_fields(result), result


async def _load_input(
    services: Services, record: TaskRecord, params: TaskParams
) -> image_input.PreparedImage:
    """A queued task's input, read back from storage and decoded."""
    started = time.perf_counter()
    decoded = await segment.load_image(services, record.input_key.removeprefix("images/"))
    mask = await segment.load_mask(services, params.mask_key, decoded)
    return image_input.PreparedImage(decoded, mask, (time.perf_counter() - started) * 1000)


def _record_fields(result: dict[str, Any]) -> dict[str, Any]:
    """What a task record shows of its result: the model version and the stage timings."""
    return {"model_version": result["model"]["version"], "timings_ms": result["timings_ms"]}


async def _cached_result_key(services: Services, record: TaskRecord) -> str | None:
    if record.kind == video.VIDEO_KIND:
        return None  # a video's files are stored under its own task id
    version = await _model_version(services)
    if version is None:
        return None
    cached = await services.cache.get(_cache_key(services, record, version))
    if cached is None:
        return None
    key = cached.decode()
    return key if await services.blobs.exists(key) else None


async def _model_version(services: Services) -> str | None:
    """The version of the model that runs tasks: this process's, else the ready workers'."""
    if services.models is not None:
        info = services.models.info
        return info.version if info else None
    return await fleet.ready_model_version(services.cache)


async def _join_inflight(services: Services, record: TaskRecord) -> TaskRecord | None:
    """The same owner's unfinished task for the same request, or None once `record` claimed it.

    The claim is `cache.add`, so of many identical requests at once only one creates a task.
    The key holds the owner, so one owner never receives another owner's task (and never
    learns that someone else asked the same). A claim whose task has ended, or never appeared,
    is taken over. Without a shared cache, or with Redis down, `add` always succeeds: each
    request then gets its own task, as if there were no de-duplication.
    """
    key = _inflight_key(services, record)
    claim = record.id.encode()
    if await services.cache.add(key, claim, _INFLIGHT_TTL_S):
        return None
    holder = await services.cache.get(key)
    existing = await _wait_created(services, holder.decode()) if holder else None
    if existing and existing.owner == record.owner and not existing.status.finished:
        return existing
    await services.cache.set(key, claim, _INFLIGHT_TTL_S)
    return None


async def _wait_created(services: Services, task_id: str) -> TaskRecord | None:
    """The record of a task whose creator claimed it a moment ago: it may not be stored yet."""
    deadline = time.monotonic() + _INFLIGHT_CREATE_WAIT_S
    while True:
        try:
            return await services.store.get(task_id)
        except NotFound:
            if time.monotonic() >= deadline:
                return None
        await asyncio.sleep(_POLL_S / 5)


def _inflight_key(services: Services, record: TaskRecord) -> str:
    identity = _identity(services, record)
    blob = json.dumps([record.owner, record.input_key, identity], sort_keys=True)
    return "inflight:" + hashlib.sha256(blob.encode()).hexdigest()


def _cache_key(services: Services, record: TaskRecord, version: str) -> str:
    identity = _identity(services, record)
    return segment.result_cache_key(version, record.owner, record.input_key, identity)


def _identity(services: Services, record: TaskRecord) -> dict[str, Any]:
    """Everything that changes the task's result, normalised."""
    if record.kind == video.VIDEO_KIND:
        return video.identity(record, services.thresholds)
    return TaskParams.model_validate(record.params).cache_identity(services.thresholds)


async def _end(
    services: Services, record: TaskRecord, status: TaskStatus, **fields: Any
) -> TaskRecord | None:
    """Record a running task's outcome and release its de-duplication claim. Returns the
    updated record, None if the task had ended already (cancelled)."""
    updated = await services.store.update(
        record.id, expect=_UNFINISHED, status=status, finished_at=utcnow(), **fields
    )
    if updated is None:
        log.info("task %s was cancelled while running; its outcome is discarded", record.id)
    await services.cache.delete(_inflight_key(services, record))
    return updated


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
