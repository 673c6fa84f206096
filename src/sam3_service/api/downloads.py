"""Download responses, shared by a task's routes and its share link's routes."""

from __future__ import annotations

from typing import Any

from fastapi import Response
from fastapi.responses import JSONResponse

from ..domain import downloads
from ..domain.services import Services
from ..tasks.base import TaskRecord

PNG: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/png": {}}, "description": "A PNG picture."}
}
JSONL: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/x-ndjson": {}}, "description": "One JSON object per line."}
}
MP4: dict[int | str, dict[str, Any]] = {
    200: {"content": {"video/mp4": {}}, "description": "An H.264 MP4 video."}
}


async def file_response(
    services: Services, record: TaskRecord, name: str, *, saved_as: str
) -> Response:
    """One of the task's files (`KindHandler.files`), saved as `<saved_as>-<name>`."""
    data, media_type = await downloads.task_file(services, record, name)
    return Response(data, media_type=media_type, headers=disposition(saved_as, name))


def json_file(result: dict[str, Any], task_id: str) -> Response:
    return JSONResponse(result, headers=disposition(task_id, "result.json"))


def disposition(task_id: str, name: str) -> dict[str, str]:
    """Downloads are saved, never shown in the service's origin."""
    return {"Content-Disposition": f'attachment; filename="{task_id}-{name}"'}
