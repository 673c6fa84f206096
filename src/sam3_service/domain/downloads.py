"""The files of a finished task: its result JSON, pictures rendered from it, its input, and a
video task's JSON Lines and overlay MP4."""

from __future__ import annotations

import asyncio
from typing import Any

from ..errors import Conflict
from ..media import decode_image, sniff_media_type
from ..tasks.base import TaskRecord, TaskStatus
from . import jobs, results, video

_NO_SIDE_LIMIT = 1 << 16  # stored inputs were checked on upload


async def result_json(services: Any, record: TaskRecord) -> dict[str, Any]:
    """The stored result. Raises Conflict while the task has none."""
    return await jobs.load_result(services, record)


async def masks_png(services: Any, record: TaskRecord) -> bytes:
    """One colour per object on a transparent background."""
    _require_kind(record, jobs.IMAGE_KIND, "masks.png")
    result = await jobs.load_result(services, record)
    return await asyncio.to_thread(results.render_label_png, result)


async def overlay_png(services: Any, record: TaskRecord) -> bytes:
    """The input image with coloured, outlined, labelled masks."""
    _require_kind(record, jobs.IMAGE_KIND, "overlay.png")
    result = await jobs.load_result(services, record)
    original = await services.blobs.get(record.input_key)

    def render() -> bytes:
        picture = decode_image(original, max_side=_NO_SIDE_LIMIT).image
        return results.render_overlay_png(result, picture)

    return await asyncio.to_thread(render)


async def input_image(services: Any, record: TaskRecord) -> tuple[bytes, str]:
    """The uploaded bytes and their media type."""
    data = await services.blobs.get(record.input_key)
    return data, sniff_media_type(data) or "application/octet-stream"


async def result_jsonl(services: Any, record: TaskRecord) -> bytes:
    """A video task's results, one JSON line per frame. Raises Conflict."""
    return await _video_file(services, record, video.jsonl_key(record.id), "result.jsonl")


async def overlay_mp4(services: Any, record: TaskRecord) -> bytes:
    """A video task's video with coloured masks and object ids (H.264 MP4). Raises Conflict."""
    return await _video_file(services, record, video.overlay_key(record.id), "overlay.mp4")


async def _video_file(services: Any, record: TaskRecord, key: str, name: str) -> bytes:
    _require_kind(record, video.VIDEO_KIND, name)
    if record.status is not TaskStatus.SUCCEEDED:
        raise Conflict(f"task {record.id} is {record.status.value}; it has no {name} yet")
    data: bytes = await services.blobs.get(key)
    return data


def _require_kind(record: TaskRecord, kind: str, name: str) -> None:
    if record.kind != kind:
        raise Conflict(f"task {record.id} is a {record.kind} task: it has no {name}")
