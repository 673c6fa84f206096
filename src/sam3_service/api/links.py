"""Where a task's files are served: the only place that builds `/v1/...` URLs of tasks."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from ..domain import kinds
from ..tasks.base import TaskKind, TaskRecord


class Links(BaseModel):
    """The URLs of a task's files: each kind names its own (`KindHandler.files`)."""

    task: str
    result_json: str
    masks_png: str | None = Field(default=None, description="Image tasks.")
    overlay_png: str | None = Field(default=None, description="Image tasks.")
    result_jsonl: str | None = Field(
        default=None, description="Video tasks: a JSON line per frame."
    )
    overlay_mp4: str | None = Field(
        default=None, description="Video tasks: the video with the masks."
    )


def task_links(task_id: str, kind: TaskKind) -> Links:
    """A task's own URLs."""
    return _links(f"/v1/tasks/{task_id}", kind)


def shared_links(token: str, kind: TaskKind) -> Links:
    """A shared task's files, under the token: those its own links name."""
    return _links(f"/v1/shared/{token}", kind)


def share_urls(token: str) -> tuple[str, str]:
    """The web page that shows a shared task, and the shared task as JSON."""
    return f"/?share={token}", f"/v1/shared/{token}"


def with_links(record: TaskRecord, result: dict[str, Any]) -> dict[str, Any]:
    """A stored result as served: kinds whose results name their files get the task's links."""
    if not kinds.handler(record.kind).links_in_result:
        return result
    return {**result, "links": task_links(record.id, record.kind).model_dump(exclude_none=True)}


def _links(base: str, kind: TaskKind) -> Links:
    files = kinds.handler(kind).files
    named = {name.replace(".", "_"): f"{base}/{name}" for name in files}
    return Links(task=base, result_json=f"{base}/result.json", **named)
