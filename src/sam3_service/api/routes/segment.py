"""`POST /v1/segment`: segment one image and wait for the answer."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from ...domain import jobs
from ..deps import CallerDep, RoutingOwnerDep, ServicesDep
from ..inputs import read_segment_input
from ..links import task_links
from ..schemas import SEGMENT_REQUEST_BODY

router = APIRouter(tags=["segment"])


@router.post("/segment", openapi_extra=SEGMENT_REQUEST_BODY)
async def segment(
    request: Request, services: ServicesDep, caller: CallerDep, routing_owner: RoutingOwnerDep
) -> dict[str, Any]:
    """Segment an image now: upload it (multipart `file`) or name an earlier upload (`image_id`),
    with a text prompt, boxes and/or points. Returns objects with score, bbox, area and a COCO
    RLE mask. The same request again, or the same image with a new prompt, is answered faster."""
    segment_input = await read_segment_input(request, services.limits)
    submitted = segment_input.submit_args(caller.owner, routing_owner)
    record, result = await jobs.segment_now(services, **submitted)
    task_id = record.public_id
    links = task_links(task_id, record.kind).model_dump(exclude_none=True)
    return {"task_id": task_id, **result, "links": links}
