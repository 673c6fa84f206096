"""Encode binary masks as COCO RLE, PNG and polygons, and measure them."""

from __future__ import annotations

import io
from typing import Any

import cv2
import numpy as np
from PIL import Image
from pycocotools import mask as coco_mask  # type: ignore[import-untyped]

from sam3_service.errors import InvalidInput, TooLarge

_RLE_FORM = 'An RLE mask must be {"size": [h, w], "counts": "<COCO RLE string>"}.'


def encode_rle(mask: np.ndarray) -> dict[str, Any]:
    """Encode an HxW mask as JSON-ready COCO RLE: {"size": [h, w], "counts": str}."""
    rle = coco_mask.encode(np.asfortranarray(_as_bool(mask), dtype=np.uint8))
    return {"size": [int(side) for side in rle["size"]], "counts": rle["counts"].decode("ascii")}


def decode_rle(rle: dict[str, Any], *, max_side: int = 4096) -> np.ndarray:
    """Decode compressed COCO RLE (str or bytes counts) to a bool HxW mask.

    Raises InvalidInput when the RLE is malformed or its runs do not cover exactly h*w pixels,
    TooLarge when a side exceeds `max_side` (a few bytes of RLE can describe any size).
    """
    height, width, counts = _checked_rle(rle, max_side=max_side)
    decoded = coco_mask.decode({"size": [height, width], "counts": counts})
    return np.asarray(decoded, dtype=bool)


def mask_area(mask: np.ndarray) -> int:
    """Count the pixels of the object."""
    return int(np.count_nonzero(mask))


def mask_bbox(mask: np.ndarray) -> list[float] | None:
    """Return [x0, y0, x1, y1] with exclusive x1/y1 pixel edges, or None for an empty mask."""
    columns = np.flatnonzero(mask.any(axis=0))
    if columns.size == 0:
        return None
    rows = np.flatnonzero(mask.any(axis=1))
    return [float(columns[0]), float(rows[0]), float(columns[-1] + 1), float(rows[-1] + 1)]


def mask_to_png(mask: np.ndarray) -> bytes:
    """Encode a mask as a 1-bit PNG (white, 255 once converted to L, for the object)."""
    buffer = io.BytesIO()
    Image.fromarray(_as_bool(mask)).save(buffer, format="PNG")
    return buffer.getvalue()


def mask_to_polygons(mask: np.ndarray, *, tolerance: float = 1.0) -> list[list[float]]:
    """Trace each outer contour as a COCO polygon [x1, y1, x2, y2, ...] in pixel-centre units.

    Contours are simplified with Douglas-Peucker at `tolerance` pixels; polygons of fewer
    than 3 points are dropped. Holes are not traced.
    """
    contours, _ = cv2.findContours(
        _as_bool(mask).view(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
    )
    polygons = []
    for contour in contours:
        points = cv2.approxPolyDP(contour, tolerance, closed=True).reshape(-1, 2)
        if len(points) >= 3:
            # OpenCV gives integer pixel indices; +0.5 puts them on pixel centres (as detectron2).
            polygons.append((points + 0.5).ravel().tolist())
    return polygons


def _as_bool(mask: np.ndarray) -> np.ndarray:
    """Check that `mask` is 2-D and return it as a C-contiguous bool array."""
    if mask.ndim != 2:
        raise InvalidInput(f"A mask must be a 2-D HxW array, got shape {mask.shape}.")
    return np.ascontiguousarray(mask, dtype=bool)


def _checked_rle(rle: dict[str, Any], *, max_side: int) -> tuple[int, int, bytes]:
    """Validate compressed RLE before pycocotools reads it (it trusts its input blindly)."""
    try:
        height, width = (int(side) for side in rle["size"])
        counts = rle["counts"]
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(_RLE_FORM) from exc
    if isinstance(counts, str):
        counts = counts.encode()
    if not isinstance(counts, bytes):
        raise InvalidInput(_RLE_FORM)
    if max(height, width) > max_side:
        raise TooLarge(
            f"The RLE mask is {width}x{height} pixels; sides of at most {max_side} are accepted."
        )
    runs = _rle_runs(counts)
    if min(height, width) < 0 or runs is None or sum(runs) != height * width:
        raise InvalidInput(
            f"The RLE counts do not describe a {height}x{width} mask; "
            f"send counts as produced by pycocotools.mask.encode."
        )
    return height, width, counts


def _rle_runs(counts: bytes) -> list[int] | None:
    """Parse COCO's compressed RLE string (as pycocotools' rleFrString), or None if malformed."""
    runs: list[int] = []
    value = shift = 0
    for byte in counts:
        chunk = byte - 48
        if not 0 <= chunk < 64:
            return None
        value |= (chunk & 0x1F) << shift
        shift += 5
        if chunk & 0x20:  # more chunks of this number follow
            if shift >= 35:  # pycocotools writes at most 7 chunks (a 32-bit run)
                return None
            continue
        if chunk & 0x10:  # sign bit of the last chunk
            value -= 1 << shift
        if len(runs) > 2:  # runs after the third are stored as differences
            value += runs[-2]
        if value < 0:
            return None
        runs.append(value)
        value = shift = 0
    return runs if shift == 0 else None
