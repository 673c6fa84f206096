"""Submitting a task: check and store its input, then record and queue it once."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from ..errors import ModelVersionUnavailable, Sam3Error
from ..hub import Route, RouteReason
from ..tasks.base import TaskRecord, TaskStatus, utcnow
from . import affinity, fleet, inflight, kinds, model_traffic, running
from .kinds import TaskRequest
from .services import Services


@dataclass(frozen=True)
class Admitted:
    """A submitted request's task; `created` is False when it joined one in flight.
    `prepared`: the decoded input of a task it created to run (None if it needs no run)."""

    record: TaskRecord
    created: bool
    prepared: Any = None


def new_task_id() -> str:
    return uuid.uuid4().hex


async def submit(services: Services, *, enqueue: bool = True, **request: Any) -> TaskRecord:
    """Check and store the input, then record and queue a task (`request`: `TaskRequest`'s fields).

    Bad input fails here, before anything is queued. A known result (same model, image and
    prompt) completes the task at once. Submitting an existing `task_id` returns that task, and
    so does the same request (same owner, image and prompt) while an earlier one is in flight.
    A `task_id` is the owner's own name for the task: another owner's same id is another task.
    Uploaded videos become video tasks (`video_options` applies to them only).
    """
    return (await admit(services, TaskRequest(**request), enqueue=enqueue)).record


async def admit(
    services: Services, request: TaskRequest, *, enqueue: bool = True, defer_store: bool = False
) -> Admitted:
    """`submit`, saying also whether the task was created and what its input decoded to.

    `defer_store`: leave a new upload for the caller's `run` to store (the inline path)."""
    handler = kinds.handler(kinds.kind_of(request))
    record = await handler.intake(services, request, new_task_id())
    record.client_id = request.task_id
    record.model_version = await _version(services, request, queued=enqueue)
    prepared = None
    cached_key = await handler.cached_result(services, record)  # before decoding anything
    if cached_key is not None:
        record.status, record.progress, record.result_key = TaskStatus.SUCCEEDED, 1.0, cached_key
        record.finished_at = utcnow()
    else:
        prepared = await handler.prepare(services, record, request, defer_store=defer_store)
        if request.task_id is None:  # a caller's own task_id is its idempotency key already
            joined = await inflight.join(services, record)
            if joined is not None:
                return Admitted(joined, created=False)
    record, created = await services.store.create(record)
    if created and enqueue and record.status is TaskStatus.QUEUED:
        try:
            await services.queue.enqueue(record.id, route=await affinity.route(services, record))
        except Sam3Error as exc:
            await running.finish(services, record, TaskStatus.FAILED, error=exc.to_json())
            raise
    return Admitted(record, created, prepared if created else None)


async def _version(services: Services, request: TaskRequest, *, queued: bool) -> str | None:
    """The version the task is routed to, None for the process's (or workers') one. Raises
    ModelVersionUnavailable (409) where this process runs tasks and does not hold it, or
    (for a task to be `queued`, not run by a caller holding it) is unloading it, and where
    workers run tasks and ready ones hold other versions only."""
    chosen = model_traffic.route(services, request)
    if chosen is None:
        return None
    if services.models is None:
        if not await _held_by_workers(services, chosen):
            return None  # the stable version, held by none: the ready workers' one
    else:
        services.models.host(chosen.version)
        if queued and services.models.is_draining(chosen.version):
            raise ModelVersionUnavailable(
                f"model version {chosen.version} is being unloaded", version=chosen.version
            )
    return chosen.version


async def _held_by_workers(services: Services, chosen: Route) -> bool:
    """Whether ready workers hold the `chosen` version. If they hold others only, a pinned,
    canary or split version is refused (ModelVersionUnavailable) and the stable version is
    not (False: their model changed under the routing table, they serve what they hold).
    With no ready worker (they start) or no fleet to read (the cache is down): True, the
    task queues for it."""
    try:
        ready = await fleet.ready_versions(services.cache)
    except Sam3Error:
        return True
    if not ready or chosen.version in ready:
        return True
    if chosen.reason is RouteReason.STABLE:
        return False
    held = ", ".join(sorted(ready))
    raise ModelVersionUnavailable(
        f"model version {chosen.version} is held by no ready worker (ready: {held})",
        version=chosen.version,
    )
