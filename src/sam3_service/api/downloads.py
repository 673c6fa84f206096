"""Download responses, shared by a task's routes and its share link's routes.

No `from __future__ import annotations`: FastAPI reads the endpoint's dependency on `locate`
from its annotations, which must be objects, not names of a closure's variables.
"""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse

from ..domain import downloads
from ..domain.services import Services
from ..tasks.base import TaskRecord
from .deps import ServicesDep

# A task found from a request, and the name its files are saved under.
Located = tuple[TaskRecord, str]

PNG: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/png": {}}, "description": "A PNG picture."}
}
JSONL: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/x-ndjson": {}}, "description": "One JSON object per line."}
}
MP4: dict[int | str, dict[str, Any]] = {
    200: {"content": {"video/mp4": {}}, "description": "An H.264 MP4 video."}
}


_RESPONSES = {"masks.png": PNG, "overlay.png": PNG, "result.jsonl": JSONL, "overlay.mp4": MP4}


def add_file_routes(
    router: APIRouter,
    path: str,
    locate: Callable[..., Awaitable[Located]],
    routes: dict[str, tuple[str, str]],
) -> None:
    """Add `GET <path>/<file>` to `router` for each file of `routes` (file -> route name and
    description); `locate` is the dependency that finds the task."""
    for file, (name, description) in routes.items():
        router.add_api_route(
            f"{path}/{file}",
            _file_endpoint(file, locate),
            methods=["GET"],
            name=name,
            description=description,
            response_class=Response,
            responses=_RESPONSES[file],
        )


def _file_endpoint(
    file: str, locate: Callable[..., Awaitable[Located]]
) -> Callable[..., Awaitable[Response]]:
    async def download(
        services: ServicesDep, located: Annotated[Located, Depends(locate)]
    ) -> Response:
        record, saved_as = located
        return await file_response(services, record, file, saved_as=saved_as)

    return download


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
