"""Task records, their store and the queue that carries task ids to workers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from ..errors import Sam3Error


class TaskStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELLED)


class TaskKind(StrEnum):
    """What a task works on; the values are stored, so they never change."""

    IMAGE = "image"
    VIDEO = "video"


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class TaskRecord:
    """One asynchronous job. The store's copy is the truth; workers write its status."""

    id: str
    kind: TaskKind
    input_key: str  # blob key of the uploaded media
    params: dict[str, Any]  # the prompt and options, JSON-ready
    owner: str = "anonymous"
    client_id: str | None = None  # the owner's own name for the task (its idempotency key)
    status: TaskStatus = TaskStatus.QUEUED
    progress: float = 0.0  # 0..1
    model_version: str | None = None
    result_key: str | None = None  # blob key of the result JSON
    error: dict[str, Any] | None = None  # {"code": ..., "message": ...}
    timings_ms: dict[str, float] = field(default_factory=dict)
    attempts: int = 0
    created_at: datetime = field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None

    def __post_init__(self) -> None:
        self.kind = TaskKind(self.kind)  # a store reads it back as text

    @property
    def public_id(self) -> str:
        """The id its owner knows the task by: their own `client_id`, else the task's id."""
        return self.client_id or self.id


# The fields `TaskStore.update` may change.
MUTABLE_FIELDS = frozenset(
    {
        "status",
        "progress",
        "model_version",
        "result_key",
        "error",
        "timings_ms",
        "attempts",
        "started_at",
        "finished_at",
    }
)


class TaskStore(Protocol):
    """Durable task records, and which owner uploaded which image.

    Every id a client names is looked up within its owner: `client_id` is unique per owner
    (an idempotency key belongs to the owner who sent it), `id` is unique everywhere.
    """

    async def create(self, record: TaskRecord) -> tuple[TaskRecord, bool]:
        """Insert `record`; if its id, or its owner's `client_id`, exists, return the stored
        one and False (idempotent)."""
        ...

    async def get(self, task_id: str) -> TaskRecord:
        """Return the record with this `id` (what queues carry). Raises NotFound."""
        ...

    async def find(self, name: str, *, owner: str | None) -> TaskRecord:
        """The task `owner` names `name` (its `client_id`, else its `id`); None: any owner's,
        the newest. Raises NotFound, the same whether the task is another owner's or none."""
        ...

    async def add_upload(self, owner: str, sha256: str) -> None:
        """Record that `owner` uploaded the image with this sha256 (again is a no-op)."""
        ...

    async def has_upload(self, owner: str, sha256: str) -> bool:
        """Whether `owner` uploaded the image with this sha256."""
        ...

    async def update(
        self, task_id: str, *, expect: set[TaskStatus] | None = None, **fields: Any
    ) -> TaskRecord | None:
        """Change fields in `MUTABLE_FIELDS`; with `expect`, only if the status is one of them.

        Returns the new record, or None when `expect` did not match. Raises NotFound.
        """
        ...

    async def list(
        self,
        *,
        owner: str | None = None,
        statuses: set[TaskStatus] | None = None,
        limit: int = 50,
    ) -> list[TaskRecord]:
        """The newest records first, optionally only one owner's and only in `statuses`."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


DEFAULT_WORKER_WAIT_S = 3.0  # how long a routed task waits for its worker before any may take it


@dataclass(frozen=True)
class QueueRoute:
    """Where a task should run, as a hint: on the worker `worker` (whose caches are warm for
    its input), else on any worker holding model `version`, else on any worker.

    A queue that has one process to run tasks ignores it. Whatever the hint, a task is never
    stranded: a worker that is busy or gone passes it on to the others of its version.
    """

    version: str | None = None
    worker: str | None = None


class TaskQueue(Protocol):
    """Carries task ids (never payloads) to workers, at least once."""

    async def start(self) -> None:
        """Connect (a remote queue declares itself here); nothing is consumed yet."""
        ...

    async def enqueue(self, task_id: str, *, route: QueueRoute | None = None) -> None:
        """Queue a task id, towards the workers `route` names (None: any worker). Raises Busy
        when full, BackendUnavailable when unreachable."""
        ...

    async def depth(self) -> int:
        """How many task ids wait to be picked up."""
        ...

    async def aclose(self) -> None:
        """Stop consuming and release connections; a durable backend keeps queued ids."""
        ...


class TaskRunner(Protocol):
    """What a queue's consumer does with a delivered task id; the queue decides on retries."""

    async def run(self, task_id: str) -> None:
        """Run one job. Raises one of `TRANSIENT_ERRORS`, the task back in `queued`, when it
        could not run for now: the queue tries it again later, or gives it up."""
        ...

    async def give_up(self, task_id: str, error: Sam3Error) -> None:
        """Record that a job failed for good with `error`: no delivery of it follows."""
        ...


class EmbeddedRunner(TaskRunner, Protocol):
    """A runner for a queue that keeps nothing across restarts (the in-process queue)."""

    async def unfinished(self, limit: int) -> list[str]:
        """The tasks a stopped process left queued or running, oldest first, at most `limit`,
        each back in `queued`: to be queued again."""
        ...


class WorkerProcess(TaskRunner, Protocol):
    """One remote worker process's part in running jobs: opened once per process."""

    async def open(self) -> None:
        """Connect the backends and load the model. Raises (after cleaning up) if it cannot."""
        ...

    async def aclose(self) -> None:
        """Release what `open` took."""
        ...


@dataclass(frozen=True)
class ShareRecord:
    """A share link's record: it opens task `task_id` until `expires_at`, while it exists and
    while the key that made it (`key_id`; None with authentication off) is not revoked."""

    id: str
    task_id: str  # the task's `id`
    owner: str
    key_id: str | None
    expires_at: datetime
    created_at: datetime = field(default_factory=utcnow)


class ShareStore(Protocol):
    """Durable share link records (a link's token is signed; its record can be deleted)."""

    async def add_share(self, share: ShareRecord) -> None:
        """Store a new share record."""
        ...

    async def get_share(self, share_id: str) -> ShareRecord:
        """Return the share record. Raises NotFound."""
        ...

    async def delete_shares(self, task_id: str) -> int:
        """Delete every share of the task with this `id`; returns how many there were."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
