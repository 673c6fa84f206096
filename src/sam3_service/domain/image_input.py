"""An image task's input: its record's keys from the upload's bytes alone, then (when the
task must run) the decoded image and mask, checked and stored once."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import time

import numpy as np

from ..media import DecodedImage, decode_mask
from ..tasks.base import TaskKind, TaskRecord
from . import keys, segment
from .params import SegmentParams, TaskParams
from .services import Services


@dataclasses.dataclass(frozen=True)
class PreparedImage:
    """A task's input decoded by the process that checked it: the inline run reuses it."""

    decoded: DecodedImage
    mask: np.ndarray | None
    decode_ms: float
    unstored: bytes | None = None  # the upload, while `store` has yet to keep it


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
    mask_key = None if mask_data is None else keys.mask_key(mask_data)
    stored = TaskParams(**dict(params), mask_key=mask_key)
    return TaskRecord(
        id=task_id,
        kind=TaskKind.IMAGE,
        input_key=keys.image_key(sha256),
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
    defer_store: bool = False,
) -> PreparedImage:
    """Decode and check the input of `record` (from `expected_record`) and store it, or with
    `defer_store` leave an uploaded image for `store` (its run keeps it while the model works).

    Bad input fails here (InvalidInput, UnsupportedMedia, TooLarge, NotFound)."""
    started = time.perf_counter()
    if data is not None:
        decoded = await segment.decode_upload(data, services.limits)
    else:
        decoded = await segment.load_image(services, keys.image_sha256(record.input_key))
    mask = None
    if mask_data is not None:
        mask = await asyncio.to_thread(
            decode_mask, mask_data, width=decoded.width, height=decoded.height
        )
        await segment.store_mask(services, mask_data)
    segment.check_prompt(params, decoded, services.limits, has_mask=mask is not None)
    prepared = PreparedImage(decoded, mask, (time.perf_counter() - started) * 1000, data)
    if not defer_store:
        await store(services, prepared, owner=record.owner)
        prepared = dataclasses.replace(prepared, unstored=None)
    return prepared


async def store(services: Services, prepared: PreparedImage, *, owner: str) -> None:
    """Keep the upload of `prepared` (if any) and record that `owner` uploaded it."""
    if prepared.unstored is not None:
        await segment.store_image(services, prepared.unstored, prepared.decoded, owner=owner)
