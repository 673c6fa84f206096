"""The files of a finished task: its result JSON, pictures rendered from it, its input image."""

from __future__ import annotations

import asyncio
from typing import Any

from ..media import decode_image, sniff_media_type
from ..tasks.base import TaskRecord
from . import jobs, results

_NO_SIDE_LIMIT = 1 << 16  # stored inputs were checked on upload


async def result_json(services: Any, record: TaskRecord) -> dict[str, Any]:
    """The stored result. Raises Conflict while the task has none."""
    return await jobs.load_result(services, record)


async def masks_png(services: Any, record: TaskRecord) -> bytes:
    """One colour per object on a transparent background."""
    result = await jobs.load_result(services, record)
    return await asyncio.to_thread(results.render_label_png, result)


async def overlay_png(services: Any, record: TaskRecord) -> bytes:
    """The input image with coloured, outlined, labelled masks."""
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
