"""Result JSON: an image's, built from the engine's Segmentation and rendered; any task's,
read back."""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np
from PIL import Image

from ..errors import Conflict
from ..inference.base import ModelInfo, Segmentation
from ..media import (
    decode_rle,
    encode_rle,
    label_png,
    mask_area,
    mask_to_png,
    mask_to_polygons,
    overlay_png,
)
from ..storage.base import BlobStore
from ..tasks.base import TaskRecord, TaskStatus
from .params import MaskFormat, SegmentParams

RANDOM_MODEL_NOTICE = (
    "This service runs a randomly initialised development model: masks are meaningless. "
    "Set SAM3_MODEL to real SAM 3 weights."
)
RANDOM_TEXT_SCORES = (
    " Its text prompts score about 0.25, under the score_threshold: lower it (for example "
    "score_threshold=0.2) to see the objects it finds."
)


def build_result(
    segmentation: Segmentation,
    *,
    params: SegmentParams,
    image_sha256: str,
    model: ModelInfo,
    extra_timings_ms: dict[str, float],
) -> dict[str, Any]:
    """The JSON result of one image: objects with score, bbox, area and masks, plus metadata."""
    formats = set(params.mask_format)
    objects = [
        _object_json(index, det.score, det.box, det.mask, formats)
        for index, det in enumerate(segmentation.detections)
    ]
    result: dict[str, Any] = {
        "image": {
            "width": segmentation.width,
            "height": segmentation.height,
            "sha256": image_sha256,
        },
        "prompt": params.model_dump(mode="json", exclude={"mask_key"}, exclude_none=True),
        "model": {"name": model.name, "version": model.version, "random": model.random},
        "objects": objects,
        "vision_cache_hit": segmentation.vision_cache_hit,
        "timings_ms": {**extra_timings_ms, **segmentation.timings_ms},
    }
    if model.random:
        text_found_nothing = params.prompt and not objects
        result["warning"] = RANDOM_MODEL_NOTICE + (RANDOM_TEXT_SCORES if text_found_nothing else "")
    return result


async def load_result(blobs: BlobStore, record: TaskRecord) -> dict[str, Any]:
    """The result JSON of a succeeded task. Raises NotFound or Conflict."""
    if record.status is not TaskStatus.SUCCEEDED or record.result_key is None:
        raise Conflict(f"task {record.public_id} is {record.status.value}; it has no result")
    return json.loads(await blobs.get(record.result_key))


def _object_json(
    index: int,
    score: float,
    box: tuple[float, float, float, float],
    mask: np.ndarray,
    formats: set[MaskFormat],
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "id": index,
        "score": round(float(score), 5),
        "bbox": [round(float(v), 2) for v in box],
        "area": mask_area(mask),
        "rle": encode_rle(mask),
    }
    if MaskFormat.PNG in formats:
        obj["mask_png"] = base64.b64encode(mask_to_png(mask)).decode("ascii")
    if MaskFormat.POLYGONS in formats:
        obj["polygons"] = mask_to_polygons(mask)
    return obj


def result_masks(result: dict[str, Any]) -> list[np.ndarray]:
    """Decode every object's mask of a stored result."""
    return [decode_rle(obj["rle"]) for obj in result["objects"]]


def render_label_png(result: dict[str, Any]) -> bytes:
    """One colour per object on a transparent background."""
    image = result["image"]
    return label_png(result_masks(result), image["width"], image["height"])


def render_overlay_png(result: dict[str, Any], picture: Image.Image) -> bytes:
    """The picture with each object's coloured mask, outline and `id score` label."""
    labels = [f"{obj['id']} {obj['score']:.2f}" for obj in result["objects"]]
    return overlay_png(picture, result_masks(result), labels=labels)
