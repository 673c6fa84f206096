"""`/v1/tasks`: queue a segmentation, poll it, cancel it, download its results."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from ...domain import downloads, jobs
from ...domain.results import load_result
from ...tasks.base import TaskStatus
from ..deps import CallerDep, RoutingOwnerDep, ServicesDep
from ..downloads import Located, add_file_routes, disposition, json_file
from ..inputs import read_segment_input
from ..links import task_links
from ..schemas import SEGMENT_REQUEST_BODY, TaskList, TaskView

router = APIRouter(tags=["tasks"])
alias_router = APIRouter(tags=["tasks"])


@router.post("/tasks", status_code=202, openapi_extra=SEGMENT_REQUEST_BODY)
async def submit_task(
    request: Request, services: ServicesDep, caller: CallerDep, routing_owner: RoutingOwnerDep
) -> JSONResponse:
    """Queue a segmentation; poll the `Location` (`GET /v1/tasks/{task_id}`) for the result.
    Accepts the same fields as `POST /v1/segment`; give your own `task_id` to make retries safe."""
    segment_input = await read_segment_input(request, services.limits)
    record = await jobs.submit(services, **segment_input.submit_args(caller.owner, routing_owner))
    view = TaskView.of(record)
    return JSONResponse(
        view.model_dump(mode="json"),
        status_code=202,
        headers={"Location": view.links.task},
    )


@router.get("/tasks")
async def list_tasks(
    services: ServicesDep, caller: CallerDep, limit: int = Query(50, ge=1, le=500)
) -> TaskList:
    """Your most recent tasks, newest first."""
    records = await services.store.list(owner=caller.visible_owner, limit=limit)
    return TaskList(tasks=[TaskView.of(record) for record in records])


@router.get("/tasks/{task_id}")
async def get_task(
    task_id: str,
    services: ServicesDep,
    caller: CallerDep,
    include_result: bool = Query(True, description="Embed the result once the task succeeded."),
) -> TaskView:
    """The task's status (`queued | running | succeeded | failed | cancelled`), progress,
    timings, and its result or error."""
    record = await jobs.get(services, task_id, owner=caller.visible_owner)
    result = None
    if include_result and record.status is TaskStatus.SUCCEEDED:
        result = await load_result(services.blobs, record)
    return TaskView.of(record, result)


@alias_router.get("/result/{task_id}")
async def get_result_alias(task_id: str, services: ServicesDep, caller: CallerDep) -> TaskView:
    """Same as `GET /v1/tasks/{task_id}` (the path of the original design)."""
    return await get_task(task_id, services, caller, include_result=True)


@router.delete("/tasks/{task_id}")
async def cancel_task(task_id: str, services: ServicesDep, caller: CallerDep) -> TaskView:
    """Cancel a queued or running task; 409 if it already finished."""
    return TaskView.of(await jobs.cancel(services, task_id, owner=caller.visible_owner))


@router.get("/tasks/{task_id}/result.json")
async def download_result(task_id: str, services: ServicesDep, caller: CallerDep) -> Response:
    """The result JSON (COCO RLE masks) as a file, with the task's id and links, as
    `POST /v1/segment` answers it."""
    record = await jobs.get(services, task_id, owner=caller.visible_owner)
    result = await load_result(services.blobs, record)
    links = task_links(record.public_id, record.kind).model_dump(exclude_none=True)
    return json_file({"task_id": record.public_id, **result, "links": links}, task_id)


async def _locate(task_id: str, services: ServicesDep, caller: CallerDep) -> Located:
    return await jobs.get(services, task_id, owner=caller.visible_owner), task_id


add_file_routes(
    router,
    "/tasks/{task_id}",
    _locate,
    {
        "masks.png": (
            "download_masks",
            "Every object's mask in its own colour on a transparent background.",
        ),
        "overlay.png": ("download_overlay", "The image with coloured, outlined, labelled masks."),
        "result.jsonl": (
            "download_result_lines",
            'A video task\'s results: one line per frame, `{"frame", "time_s", "objects"}`, each '
            "object\nwith its id (the same on every frame), score, bbox and COCO RLE mask.",
        ),
        "overlay.mp4": (
            "download_overlay_video",
            "A video task's video with each object's mask in its colour, labelled `id score`.",
        ),
    },
)


@router.get("/tasks/{task_id}/input", response_class=Response)
async def download_input(task_id: str, services: ServicesDep, caller: CallerDep) -> Response:
    """The uploaded image or video, as it was received."""
    record = await jobs.get(services, task_id, owner=caller.visible_owner)
    data, media_type = await downloads.input_file(services, record)
    headers = {"Cache-Control": "private, max-age=86400", **disposition(task_id, "input")}
    return Response(data, media_type=media_type, headers=headers)
