"""An image task's input: its record's keys from the upload's bytes alone, then (when the
task must run) the decoded image and mask, checked and stored once."""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass

import numpy as np

from ..media import DecodedImage, decode_mask
from ..tasks.base import TaskRecord
from . import segment
from .params import SegmentParams, TaskParams
from .services import Services

IMAGE_KIND = "image"


@dataclass(frozen=True)
class PreparedImage:
    """A task's input decoded by the process that checked it: the inline run reuses it."""

    decoded: DecodedImage
    mask: np.ndarray | None
    decode_ms: float


async def expected_record(
    services: Services,
    *,
    params: SegmentParams,
    data: bytes | None,
    image_id: str | None,
    mask_data: bytes | None,
    owner: str,
    task_id: str,
) -> TaskRecord:
    """The task `prepare` would record, keyed from the bytes (sha256) without decoding them, so
    that a request answered before is found at once. Checks the upload's size and, for an
    `image_id`, that the owner may name it (NotFound)."""
    segment.require_image_source(data, image_id)
    if data is not None:
        segment.check_size(data, services.limits)
        sha256 = hashlib.sha256(data).hexdigest()
    else:
        sha256 = str(image_id)
        await segment.require_upload(services, sha256, owner=owner)
    mask_key = None if mask_data is None else segment.mask_key(mask_data)
    stored = TaskParams(**dict(params), mask_key=mask_key)
    return TaskRecord(
        id=task_id,
        kind=IMAGE_KIND,
        input_key=segment.image_key(sha256),
        params=stored.model_dump(mode="json"),
        owner=owner,
    )


async def prepare(
    services: Services,
    record: TaskRecord,
    *,
    params: SegmentParams,
    data: bytes | None,
    mask_data: bytes | None,
) -> PreparedImage:
    """Decode and check the input of `record` (from `expected_record`) and store it.

    Bad input fails here (InvalidInput, UnsupportedMedia, TooLarge, NotFound)."""
    started = time.perf_counter()
    sha256 = record.input_key.removeprefix(segment.IMAGE_PREFIX)
    if data is not None:
        decoded = await segment.store_image(services, data, owner=record.owner)
    else:
        decoded = await segment.load_image(services, sha256)
    mask = None
    if mask_data is not None:
        mask = await asyncio.to_thread(
            decode_mask, mask_data, width=decoded.width, height=decoded.height
        )
        await segment.store_mask(services, mask_data)
    segment.check_prompt(params, decoded, services.limits, has_mask=mask is not None)
    return PreparedImage(decoded, mask, (time.perf_counter() - started) * 1000)
