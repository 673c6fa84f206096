"""Segmenting one image: decode, check the prompt, run the engine, build the result JSON."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from typing import Any

import numpy as np

from ..errors import InvalidInput, TooLarge
from ..inference.base import Engine, Thresholds
from ..media import DecodedImage, decode_image, decode_mask
from .params import SegmentParams, build_prompt
from .results import build_result
from .services import Limits, Services

IMAGE_PREFIX = "images/"
MASK_PREFIX = "masks/"


def image_key(sha256: str) -> str:
    return f"{IMAGE_PREFIX}{sha256}"


def result_key(task_id: str) -> str:
    return f"results/{task_id}/result.json"


def result_cache_key(model_version: str, image_sha256: str, identity: dict[str, Any]) -> str:
    """Same model, same image bytes, same normalised prompt and options: same result."""
    blob = json.dumps([model_version, image_sha256, identity], sort_keys=True)
    return "result:" + hashlib.sha256(blob.encode()).hexdigest()


async def decode_upload(data: bytes, limits: Limits) -> DecodedImage:
    """Decode an upload off the event loop. Raises InvalidInput, UnsupportedMedia or TooLarge."""
    if len(data) > limits.max_upload_bytes:
        raise TooLarge(
            f"the upload has {len(data)} bytes, more than the limit of {limits.max_upload_bytes}"
        )
    return await asyncio.to_thread(decode_image, data, max_side=limits.max_image_side)


async def store_image(services: Services, data: bytes) -> DecodedImage:
    """Decode and keep an uploaded image under `images/<sha256>` (stored once per content)."""
    decoded = await decode_upload(data, services.limits)
    key = image_key(decoded.sha256)
    if not await services.blobs.exists(key):
        await services.blobs.put(key, data, f"image/{decoded.format}")
    return decoded


async def load_image(services: Services, sha256: str) -> DecodedImage:
    """Decode an image uploaded earlier. Raises NotFound."""
    data = await services.blobs.get(image_key(sha256))
    return await decode_upload(data, services.limits)


async def store_mask(services: Services, data: bytes, decoded: DecodedImage) -> str:
    """Check an input mask against its image and keep it; returns its blob key."""
    await asyncio.to_thread(decode_mask, data, width=decoded.width, height=decoded.height)
    key = MASK_PREFIX + hashlib.sha256(data).hexdigest()
    await services.blobs.put(key, data, "image/png")
    return key


async def load_mask(
    services: Services, key: str | None, decoded: DecodedImage
) -> np.ndarray | None:
    if key is None:
        return None
    data = await services.blobs.get(key)
    return await asyncio.to_thread(decode_mask, data, width=decoded.width, height=decoded.height)


def check_prompt(params: SegmentParams, decoded: DecodedImage, limits: Limits) -> None:
    """Fail early, before any work is queued, on a prompt that does not fit the image."""
    build_prompt(
        params,
        width=decoded.width,
        height=decoded.height,
        max_boxes=limits.max_boxes,
        max_points=limits.max_points,
        mask=True if params.mask_key else None,
    )


def segment_decoded(
    engine: Engine,
    decoded: DecodedImage,
    params: SegmentParams,
    *,
    limits: Limits,
    defaults: Thresholds,
    mask: np.ndarray | None = None,
    decode_ms: float = 0.0,
) -> dict[str, Any]:
    """Run the engine on a decoded image and return the result JSON. Blocks: call off the loop."""
    prompt = build_prompt(
        params,
        width=decoded.width,
        height=decoded.height,
        max_boxes=limits.max_boxes,
        max_points=limits.max_points,
        mask=mask,
    )
    segmentation = engine.segment(
        decoded.image, decoded.sha256, prompt, params.thresholds(defaults)
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
