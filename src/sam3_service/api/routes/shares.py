"""Share links: a signed, expiring URL that opens one result read-only, without an API key."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body, Response
from pydantic import BaseModel, ConfigDict, Field

from ...domain import downloads, sharing
from ...domain.results import load_result
from ..deps import CallerDep, ServicesDep
from ..downloads import Located, add_file_routes, disposition, json_file
from ..links import share_urls, shared_links, with_links
from ..schemas import TaskView

router = APIRouter(tags=["share links"])


class ShareRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ttl_s: int | None = Field(
        None,
        ge=1,
        le=sharing.MAX_TTL_S,
        description="Lifetime in seconds; default SAM3_LINK_TTL_S.",
    )


class Withdrawn(BaseModel):
    withdrawn: int = Field(description="How many share links of the task stopped working.")


class ShareLink(BaseModel):
    token: str
    url: str = Field(description="The web page showing the shared result.")
    api_url: str = Field(description="The shared task as JSON.")
    expires_at: datetime


@router.post("/tasks/{task_id}/share")
async def share_task(
    task_id: str,
    services: ServicesDep,
    caller: CallerDep,
    body: Annotated[ShareRequest | None, Body()] = None,
) -> ShareLink:
    """Make a link that shows this task's result to anyone who has it, until it expires."""
    ttl_s = body.ttl_s if body and body.ttl_s is not None else services.share_ttl_s
    share = await sharing.create(
        services, task_id, owner=caller.visible_owner, key_id=caller.key_id, ttl_s=ttl_s
    )
    url, api_url = share_urls(share.token)
    return ShareLink(token=share.token, url=url, api_url=api_url, expires_at=share.expires_at)


@router.delete("/tasks/{task_id}/share")
async def withdraw_shares(task_id: str, services: ServicesDep, caller: CallerDep) -> Withdrawn:
    """Withdraw every share link of this task: they stop working at once."""
    return Withdrawn(withdrawn=await sharing.delete(services, task_id, owner=caller.visible_owner))


@router.get("/shared/{token}")
async def get_shared(token: str, services: ServicesDep) -> TaskView:
    """The shared task with its result (read-only; no API key needed)."""
    record = await sharing.open_shared(services, token)
    view = TaskView.of(record, await load_result(services.blobs, record))
    view.links = shared_links(token, record.kind)
    return view


@router.get("/shared/{token}/result.json")
async def get_shared_result(token: str, services: ServicesDep) -> Response:
    """The shared result JSON."""
    record = await sharing.open_shared(services, token)
    result = with_links(record, await load_result(services.blobs, record))
    return json_file(result, record.public_id)


async def _locate(token: str, services: ServicesDep) -> Located:
    record = await sharing.open_shared(services, token)
    return record, record.public_id


add_file_routes(
    router,
    "/shared/{token}",
    _locate,
    {
        "masks.png": ("get_shared_masks", "The shared result's masks, one colour per object."),
        "overlay.png": ("get_shared_overlay", "The shared result drawn over its image."),
        "result.jsonl": (
            "get_shared_result_lines",
            "The shared video task's results, one JSON line per processed frame.",
        ),
        "overlay.mp4": (
            "get_shared_overlay_video",
            "The shared video task's video with each object's mask in its colour.",
        ),
    },
)


@router.get("/shared/{token}/image", response_class=Response)
async def get_shared_image(token: str, services: ServicesDep) -> Response:
    """The shared task's input image."""
    record = await sharing.open_shared(services, token)
    data, media_type = await downloads.input_file(services, record)
    return Response(data, media_type=media_type, headers=disposition(record.public_id, "input"))
