"""Segmenting one image: decode, check the prompt, run the engine, build the result JSON."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import numpy as np

from ..errors import InvalidInput, NotFound, TooLarge
from ..inference.base import Engine, Thresholds
from ..media import DecodedImage, decode_image, decode_mask
from . import keys
from .params import SegmentParams, TaskParams
from .results import build_result
from .services import Limits, Services

# The owner of the public example pictures: every owner may name them by image_id.
PUBLIC_OWNER = "examples"
_NO_IMAGE = "no image with this image_id: upload the image again"


async def feature_key(services: Services, owner: str, image_sha256: str) -> str:
    """The engine's feature-cache key for an owner's image: per owner, but shared for the
    public example pictures."""
    if await services.store.has_upload(PUBLIC_OWNER, image_sha256):
        owner = PUBLIC_OWNER
    return keys.feature_key(owner, image_sha256)


async def decode_upload(data: bytes, limits: Limits) -> DecodedImage:
    """Decode an upload off the event loop. Raises InvalidInput, UnsupportedMedia or TooLarge."""
    check_size(data, limits)
    return await asyncio.to_thread(decode_image, data, max_side=limits.max_image_side)


def check_size(data: bytes, limits: Limits) -> None:
    """Raises TooLarge for an upload over the limit."""
    if len(data) > limits.max_upload_bytes:
        raise TooLarge(
            f"the upload has {len(data)} bytes, more than the limit of {limits.max_upload_bytes}"
        )


async def store_image(
    services: Services, data: bytes, decoded: DecodedImage, *, owner: str
) -> None:
    """Keep a decoded upload under its image key (stored once per content), recording that
    `owner` uploaded it."""
    key = keys.image_key(decoded.sha256)
    if not await services.blobs.exists(key):
        await services.blobs.put(key, data, f"image/{decoded.format}")
    await services.store.add_upload(owner, decoded.sha256)


async def require_upload(services: Services, sha256: str, *, owner: str) -> None:
    """Raises NotFound unless `owner` uploaded the image (or it is a public example): the same
    for another owner's image as for one never uploaded."""
    for uploader in (owner, PUBLIC_OWNER):
        if await services.store.has_upload(uploader, sha256):
            return
    raise NotFound(_NO_IMAGE)


async def load_image(services: Services, sha256: str) -> DecodedImage:
    """Decode a stored image (a task's input). Raises NotFound."""
    try:
        data = await services.blobs.get(keys.image_key(sha256))
    except NotFound:
        raise NotFound(_NO_IMAGE) from None
    return await decode_upload(data, services.limits)


async def store_mask(services: Services, data: bytes) -> str:
    """Keep an input mask (checked against its image by the caller); returns its blob key."""
    key = keys.mask_key(data)
    await services.blobs.put(key, data, "image/png")
    return key


async def load_mask(
    services: Services, key: str | None, decoded: DecodedImage
) -> np.ndarray | None:
    """A task's stored input mask, or None. Raises NotFound."""
    if key is None:
        return None
    try:
        data = await services.blobs.get(key)
    except NotFound:
        raise NotFound("the task's input mask is no longer stored") from None
    return await asyncio.to_thread(decode_mask, data, width=decoded.width, height=decoded.height)


def check_prompt(
    params: SegmentParams, decoded: DecodedImage, limits: Limits, *, has_mask: bool = False
) -> None:
    """Fail early, before any work is queued, on a prompt that does not fit the image."""
    limits.prompt(
        params, width=decoded.width, height=decoded.height, mask=True if has_mask else None
    )


def segment_decoded(
    engine: Engine,
    decoded: DecodedImage,
    params: SegmentParams | TaskParams,
    *,
    limits: Limits,
    defaults: Thresholds,
    mask: np.ndarray | None = None,
    decode_ms: float = 0.0,
    feature_key: str | None = None,
) -> dict[str, Any]:
    """Run the engine on a decoded image and return the result JSON. Blocks: call off the loop.

    `feature_key` names the image in the engine's feature cache (`feature_key()`: per owner);
    None uses the image's sha256."""
    prompt = limits.prompt(params, width=decoded.width, height=decoded.height, mask=mask)
    segmentation = engine.segment(
        decoded.image, feature_key or decoded.sha256, prompt, params.thresholds(defaults)
    )
    started = time.perf_counter()
    result = build_result(
        segmentation,
        params=params,
        image_sha256=decoded.sha256,
        model=engine.info,
        extra_timings_ms={"decode": round(decode_ms, 3)},
    )
    result["timings_ms"]["encode_result"] = round((time.perf_counter() - started) * 1000, 3)
    return result


def require_image_source(data: bytes | None, image_id: str | None) -> None:
    if (data is None) == (image_id is None):
        raise InvalidInput("give exactly one image: an uploaded file, base64 data or an image_id")
