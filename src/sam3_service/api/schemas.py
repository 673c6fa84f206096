"""HTTP shapes: request bodies and responses, as the OpenAPI document shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from ..domain import kinds
from ..domain.params import SegmentParams
from ..domain.video import VideoOptions
from ..tasks.base import TaskKind, TaskRecord, TaskStatus
from .links import Links, task_links, with_links


class SegmentJson(SegmentParams, VideoOptions):
    """A JSON request: the image as base64, or the `image_id` (sha256) of an earlier upload.
    A video (base64 too) is accepted by `POST /v1/tasks`, with the video options."""

    image: str | None = Field(None, description="The image (or video) file, base64-encoded.")
    image_id: str | None = Field(
        None,
        pattern=r"^[0-9a-f]{64}$",
        description="sha256 of an image uploaded before: refine without uploading again.",
    )
    mask: str | None = Field(None, description="An input mask PNG, base64 (interactive mode).")
    task_id: str | None = Field(
        None, pattern=r"^[A-Za-z0-9_-]{8,64}$", description="Your id for the task (idempotent)."
    )
    model_version: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        pattern=r"^[!-~]+$",
        description="The model version to run (a pin); default: as the routing table says.",
    )


class FrameProgress(BaseModel):
    """How far a video task got: frames tracked, of the frames it will track."""

    done: int
    total: int

    @classmethod
    def of(cls, record: TaskRecord) -> FrameProgress | None:
        progress = kinds.handler(record.kind).frames(record)
        return cls(**progress) if progress is not None else None


class TaskView(BaseModel):
    """A task as clients see it."""

    task_id: str
    kind: TaskKind
    status: TaskStatus
    progress: float
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    model_version: str | None
    timings_ms: dict[str, float]
    error: dict[str, Any] | None
    links: Links
    frames: FrameProgress | None = Field(
        default=None, description="Video tasks: frames done and total."
    )
    result: dict[str, Any] | None = None

    @classmethod
    def of(cls, record: TaskRecord, result: dict[str, Any] | None = None) -> TaskView:
        """The view of `record`, with its result as served."""
        return cls(
            task_id=record.public_id,
            **{name: getattr(record, name) for name in _RECORD_FIELDS},
            links=task_links(record.public_id, record.kind),
            frames=FrameProgress.of(record),
            result=None if result is None else with_links(record, result),
        )


# What a view shows of its record as it is.
_RECORD_FIELDS = (
    "kind",
    "status",
    "progress",
    "created_at",
    "started_at",
    "finished_at",
    "model_version",
    "timings_ms",
    "error",
)


class TaskList(BaseModel):
    tasks: list[TaskView]


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str = Field(
        description="200: ready | degraded (an optional backend is down); "
        "503: starting | failed | unavailable (a required backend is down) | stopping"
    )
    reason: str = ""
    reasons: list[str] = Field(default_factory=list, description="What is missing, if anything.")
    model: dict[str, Any] | None = None
    load_seconds: float | None = None
    checks: dict[str, str] = Field(default_factory=dict, description="Each backend: ok or why not.")
    versions: list[str] | None = Field(
        None, description="The model versions ready in this process (null: in the workers)."
    )


def _inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """Replace pydantic's local `$defs` references so the schema can sit inside OpenAPI."""
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    return resolve(schema)


_FORM_PROPERTIES = {
    "file": {
        "type": "string",
        "format": "binary",
        "description": "JPEG, PNG or WebP image; or (POST /v1/tasks) an MP4 or WebM video.",
    },
    "prompt": {"type": "string", "description": "English text, e.g. `cat`."},
    "boxes": {"type": "string", "description": "JSON list, e.g. `[[10,20,200,180]]`."},
    "points": {"type": "string", "description": "JSON list, e.g. `[[120,80],[40,60,0]]`."},
    "mode": {"type": "string", "enum": ["auto", "concept", "interactive"]},
    "score_threshold": {"type": "number"},
    "mask_threshold": {"type": "number"},
    "mask_format": {"type": "string", "description": "Comma-separated: `rle,png,polygons`."},
    "mask": {"type": "string", "format": "binary", "description": "Input mask PNG."},
    "image_id": {"type": "string", "description": "sha256 of an earlier upload, instead of file."},
    "task_id": {"type": "string", "description": "Your idempotency id for the task."},
    "model_version": {"type": "string", "description": "The model version to run (a pin)."},
    "frame_stride": {"type": "integer", "description": "Video: process every n-th frame."},
    "max_frames": {"type": "integer", "description": "Video: process at most this many frames."},
    "prompt_frame": {"type": "integer", "description": "Video: the frame points/box are on."},
}

SEGMENT_REQUEST_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": {"type": "object", "properties": _FORM_PROPERTIES}},
            "application/json": {"schema": _inline_refs(SegmentJson.model_json_schema())},
        },
    }
}
