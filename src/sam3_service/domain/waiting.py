"""Waiting for a task to finish: woken by a notice when it does, looking again now and then.

Whatever finishes a task changes its record through the task store, so the store announces it:
`NotifyingTaskStore` sends a notice (keyed by the task id) for every change that leaves a task
finished, in whichever process made it. Waiters listen for their task's notice and read the
record again when it comes, or after `poll_s` at the latest, in case a notice was lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from ..cache.base import Notifier
from ..errors import TimedOut
from ..tasks.base import TaskRecord, TaskStatus, TaskStore

NOTICE_PREFIX = "task-finished:"
DEGRADED_POLL_S = 0.05  # without notices (none, or Redis down): read the task this often


class NotifyingTaskStore:
    """A TaskStore that sends a notice whenever a task is stored finished."""

    def __init__(self, store: TaskStore, notifier: Notifier) -> None:
        self.inner = store
        self.notifier = notifier

    async def create(self, record: TaskRecord) -> tuple[TaskRecord, bool]:
        """Insert `record` (see TaskStore.create); a task created finished is announced."""
        stored, created = await self.inner.create(record)
        if created and stored.status.finished:
            await self.notifier.notify(NOTICE_PREFIX + stored.id)
        return stored, created

    async def get(self, task_id: str) -> TaskRecord:
        """Return the record. Raises NotFound."""
        return await self.inner.get(task_id)

    async def find(self, name: str, *, owner: str | None) -> TaskRecord:
        """The task `owner` names `name` (see TaskStore.find). Raises NotFound."""
        return await self.inner.find(name, owner=owner)

    async def add_upload(self, owner: str, sha256: str) -> None:
        """Record that `owner` uploaded the image with this sha256."""
        await self.inner.add_upload(owner, sha256)

    async def has_upload(self, owner: str, sha256: str) -> bool:
        """Whether `owner` uploaded the image with this sha256."""
        return await self.inner.has_upload(owner, sha256)

    async def update(
        self, task_id: str, *, expect: set[TaskStatus] | None = None, **fields: Any
    ) -> TaskRecord | None:
        """Change fields (see TaskStore.update); a change that finishes the task is announced."""
        record = await self.inner.update(task_id, expect=expect, **fields)
        if record is not None and "status" in fields and record.status.finished:
            await self.notifier.notify(NOTICE_PREFIX + task_id)
        return record

    async def list(self, **query: Any) -> list[TaskRecord]:
        """The newest records first (see TaskStore.list)."""
        return await self.inner.list(**query)

    async def aclose(self) -> None:
        """Release the store's connections."""
        await self.inner.aclose()


async def wait_finished(
    store: TaskStore,
    notifier: Notifier | None,
    task_id: str,
    *,
    timeout_s: float,
    poll_s: float,
    name: str | None = None,
) -> TaskRecord:
    """The task's record once it finished: read again at each notice, and every `poll_s`.

    Without a notifier, or while it cannot hear notices, it reads every `DEGRADED_POLL_S`.
    Raises TimedOut after `timeout_s` (naming the task by `name`, the id its owner knows, if
    given), NotFound for an unknown task.
    """
    name = name or task_id
    deadline = time.monotonic() + timeout_s
    subscription = (
        notifier.listen(NOTICE_PREFIX + task_id)
        if notifier is not None
        else contextlib.nullcontext(asyncio.Event())
    )
    async with subscription as notice:
        while True:
            notice.clear()
            record = await store.get(task_id)
            if record.status.finished:
                return record
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimedOut(
                    f"task {name} is still {record.status.value} after {timeout_s:g} s; "
                    f"poll GET /v1/tasks/{name}",
                    task_id=name,
                )
            hearing = notifier is not None and notifier.listening
            interval = poll_s if hearing else min(poll_s, DEGRADED_POLL_S)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(notice.wait(), min(interval, left))
