"""The files of a finished task: its input, and those its kind offers (`KindHandler.files`)."""

from __future__ import annotations

from ..errors import Conflict
from ..media import sniff_media_type
from ..tasks.base import TaskRecord
from . import kinds
from .services import Services


async def task_file(services: Services, record: TaskRecord, name: str) -> tuple[bytes, str]:
    """One of the task's files and its media type. Raises Conflict when its kind has no such
    file, or while the task has none."""
    handler = kinds.handler(record.kind)
    if name not in handler.files:
        raise Conflict(f"task {record.id} is a {record.kind} task: it has no {name}")
    return await handler.file(services, record, name), handler.files[name]


async def input_file(services: Services, record: TaskRecord) -> tuple[bytes, str]:
    """The uploaded bytes and their media type."""
    data = await services.blobs.get(record.input_key)
    return data, sniff_media_type(data) or "application/octet-stream"
