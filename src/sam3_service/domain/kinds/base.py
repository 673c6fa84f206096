"""What every task kind provides: a `KindHandler`, and the request and outcome it works with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from ...inference.base import Thresholds
from ...tasks.base import TaskKind, TaskRecord
from ..params import SegmentParams
from ..services import Services
from ..video.options import VideoOptions


@dataclass(frozen=True, kw_only=True)
class TaskRequest:
    """A segmentation request, as submitted: an upload (`data`) or an earlier one (`image_id`)."""

    params: SegmentParams
    data: bytes | None = None
    image_id: str | None = None
    mask_data: bytes | None = None
    owner: str = "anonymous"
    task_id: str | None = None  # the owner's own name for the task (its idempotency key)
    video_options: VideoOptions | None = None
    model_version: str | None = None  # the version asked for (a pin)
    routing_owner: str | None = None  # whose bucket routes the request; None: the owner


@dataclass(frozen=True)
class Outcome:
    """What a task's run produced: the key of its stored result, the record fields it sets,
    and the result itself when the caller may answer with it (else None)."""

    result_key: str
    fields: dict[str, Any]
    result: dict[str, Any] | None = None


class KindHandler(Protocol):
    """Everything that differs between task kinds: intake, execution, cache identity, result
    links and downloads. `prepared` is what `prepare` returned, or None (a queued task)."""

    kind: TaskKind
    # The files a task of this kind offers besides its result JSON and input: name -> media type.
    files: dict[str, str]
    # Whether its stored result names its files (the API adds those links).
    links_in_result: bool
    # Why a request of this kind is never answered at once; None when it can be.
    sync_refusal: str | None

    async def intake(self, services: Services, request: TaskRequest, task_id: str) -> TaskRecord:
        """The task to record for a request. Raises InvalidInput (and kin) on bad input."""

    async def prepare(
        self, services: Services, record: TaskRecord, request: TaskRequest, *, defer_store: bool
    ) -> Any:
        """Check the input the task will run on, before it is queued."""

    def identity(self, record: TaskRecord, defaults: Thresholds) -> dict[str, Any]:
        """Everything that changes the task's result, normalised (for cache keys)."""

    async def cached_result(self, services: Services, record: TaskRecord) -> str | None:
        """The key of a stored result that answers the task already, if any."""

    async def execute(self, services: Services, record: TaskRecord, prepared: Any) -> Outcome:
        """Run the task and store its result."""

    def frames(self, record: TaskRecord) -> dict[str, int] | None:
        """Frames done and to do, for kinds that count frames."""

    async def file(self, services: Services, record: TaskRecord, name: str) -> bytes:
        """One of `files`. Raises Conflict while the task has none."""


def record_fields(result: dict[str, Any]) -> dict[str, Any]:
    """What a task record shows of its result: the model version and the stage timings."""
    return {"model_version": result["model"]["version"], "timings_ms": result["timings_ms"]}
