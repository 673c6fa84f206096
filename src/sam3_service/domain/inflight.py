"""De-duplication: identical requests of one owner in flight share one task."""

from __future__ import annotations

import asyncio
import time

from ..errors import NotFound
from ..tasks.base import TaskRecord
from . import keys, kinds
from .services import Services

# How long an in-flight claim lasts at most (the worker removes it when the task ends), and how
# long a caller waits for the claiming caller's record to appear in the store.
_INFLIGHT_TTL_S = 3600
_INFLIGHT_CREATE_WAIT_S = 2.0
_POLL_S = 0.01


async def join(services: Services, record: TaskRecord) -> TaskRecord | None:
    """The same owner's unfinished task for the same request, or None once `record` claimed it.

    The claim is `cache.add`, so of many identical requests at once only one creates a task.
    The key holds the owner, so one owner never receives another owner's task (and never
    learns that someone else asked the same). A claim whose task has ended, or never appeared,
    is taken over. Without a shared cache, or with Redis down, `add` always succeeds: each
    request then gets its own task, as if there were no de-duplication.
    """
    key = _key(services, record)
    claim = record.id.encode()
    if await services.cache.add(key, claim, _INFLIGHT_TTL_S):
        return None
    holder = await services.cache.get(key)
    existing = await _wait_created(services, holder.decode()) if holder else None
    if existing and existing.owner == record.owner and not existing.status.finished:
        return existing
    await services.cache.set(key, claim, _INFLIGHT_TTL_S)
    return None


async def release(services: Services, record: TaskRecord) -> None:
    """Drop the claim of a task that ended: the next identical request makes a new task."""
    await services.cache.delete(_key(services, record))


async def _wait_created(services: Services, task_id: str) -> TaskRecord | None:
    """The record of a task whose creator claimed it a moment ago: it may not be stored yet."""
    deadline = time.monotonic() + _INFLIGHT_CREATE_WAIT_S
    while True:
        try:
            return await services.store.get(task_id)
        except NotFound:
            if time.monotonic() >= deadline:
                return None
        await asyncio.sleep(_POLL_S)


def _key(services: Services, record: TaskRecord) -> str:
    identity = kinds.handler(record.kind).identity(record, services.thresholds)
    return keys.inflight_key(record.owner, record.input_key, identity, record.model_version)
