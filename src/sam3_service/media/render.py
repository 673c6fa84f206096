"""Draw masks: colour label images, and overlays on images or video frames."""

from __future__ import annotations

import io
from collections.abc import Sequence

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from sam3_service.errors import InvalidInput

_GOLDEN_RATIO_CONJUGATE = 0.6180339887498949
_SATURATION, _VALUE = 0.8, 0.95  # vivid and bright, so objects stand out on photos
_OUTLINE_PX = 2
_OUTLINE_KERNEL = np.ones((2 * _OUTLINE_PX + 1, 2 * _OUTLINE_PX + 1), np.uint8)


def palette(n: int) -> np.ndarray:
    """Return n x 3 uint8 colours, colour i for object i: bright hues a golden ratio apart.

    Deterministic; the first 256 colours are distinct.
    """
    hues = (np.arange(n) * _GOLDEN_RATIO_CONJUGATE) % 1.0
    # HSV -> RGB: channel c is v - v*s*clip(min(k, 4 - k), 0, 1) with k = (c + 6h) mod 6.
    k = (np.array([5.0, 3.0, 1.0]) + hues[:, None] * 6.0) % 6.0
    rgb: np.ndarray = _VALUE - _VALUE * _SATURATION * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)
    return np.round(rgb * 255.0).astype(np.uint8)


def label_png(masks: Sequence[np.ndarray], width: int, height: int) -> bytes:
    """Encode masks as an RGBA PNG: transparent background, object i in colour i, later on top."""
    ids = _object_ids(masks, (height, width))
    lut = np.zeros((len(masks) + 1, 4), np.uint8)
    lut[1:, :3] = palette(len(masks))
    lut[1:, 3] = 255
    return _png(Image.fromarray(lut.take(ids, axis=0)))


def overlay_png(
    image: Image.Image,
    masks: Sequence[np.ndarray],
    *,
    alpha: float = 0.5,
    labels: Sequence[str] | None = None,
) -> bytes:
    """Encode `image` with the masks drawn over it (see overlay_frame) as an RGB PNG."""
    frame = np.asarray(image.convert("RGB"))
    return _png(Image.fromarray(overlay_frame(frame, masks, alpha=alpha, labels=labels)))


def overlay_frame(
    frame: np.ndarray,
    masks: Sequence[np.ndarray],
    *,
    alpha: float = 0.5,
    labels: Sequence[str] | None = None,
    colour_ids: Sequence[int] | None = None,
) -> np.ndarray:
    """Tint each object of an HxWx3 uint8 frame in its colour, outline it and label it.

    Returns a new frame. Fills are blended with weight `alpha` (later objects on top); outlines
    are 2 px of full colour inside each object; label i goes at object i's top-left corner.
    Object i takes palette colour i, or colour `colour_ids[i]` (a video's object ids keep their
    colour from frame to frame).
    """
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise InvalidInput(f"A frame must be HxWx3 uint8, got {frame.shape} {frame.dtype}.")
    if labels is not None and len(labels) != len(masks):
        raise InvalidInput(f"Got {len(labels)} labels for {len(masks)} masks.")
    if colour_ids is None:
        colours = palette(len(masks))
    elif len(colour_ids) != len(masks) or min(colour_ids, default=0) < 0:
        raise InvalidInput(f"Colour ids must be {len(masks)} ints >= 0, got {list(colour_ids)}.")
    else:
        colours = palette(max(colour_ids, default=-1) + 1)[list(colour_ids)]
    out = _tint(frame, _object_ids(masks, frame.shape[:2]), colours, alpha)
    font = ImageFont.load_default(size=max(12, min(frame.shape[:2]) // 50))
    for index, (mask, colour) in enumerate(zip(masks, colours, strict=True)):
        box = _box(mask)
        if box is None:
            continue
        _draw_outline(out, mask, box, colour)
        if labels is not None:
            _draw_label(out, labels[index], (box[0], box[1]), colour, font)
    return out


def _object_ids(masks: Sequence[np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
    """Return an HxW map of 0 for background and i + 1 where object i is the topmost."""
    ids = np.zeros(shape, np.min_scalar_type(len(masks)))
    for index, mask in enumerate(masks):
        if mask.shape != shape:
            raise InvalidInput(
                f"Mask {index} is {mask.shape[::-1]} (width, height) but the image is "
                f"{shape[::-1]}; they must be the same size."
            )
        np.copyto(ids, index + 1, where=mask.astype(bool, copy=False))
    return ids


def _tint(frame: np.ndarray, ids: np.ndarray, colours: np.ndarray, alpha: float) -> np.ndarray:
    """Blend each object's colour into the frame with weight `alpha`."""
    lut = np.zeros((len(colours) + 1, 3), np.uint8)
    lut[1:] = colours
    blended = cv2.addWeighted(frame, 1.0 - alpha, lut.take(ids, axis=0), alpha, 0.0)
    return cv2.copyTo(blended, (ids > 0).view(np.uint8), frame.copy())


def _box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """Return the mask's (x0, y0, x1, y1) with exclusive ends, or None if it is empty."""
    columns = np.flatnonzero(mask.any(axis=0))
    if columns.size == 0:
        return None
    rows = np.flatnonzero(mask.any(axis=1))
    return int(columns[0]), int(rows[0]), int(columns[-1]) + 1, int(rows[-1]) + 1


def _draw_outline(
    out: np.ndarray, mask: np.ndarray, box: tuple[int, int, int, int], colour: np.ndarray
) -> None:
    """Paint the inner 2 px rim of the mask in full colour, working only inside its box."""
    x0, y0, x1, y1 = box
    # Pad the box so the erosion sees background around objects that do not touch the edge.
    x0, y0 = max(x0 - _OUTLINE_PX, 0), max(y0 - _OUTLINE_PX, 0)
    x1, y1 = x1 + _OUTLINE_PX, y1 + _OUTLINE_PX
    inside = mask[y0:y1, x0:x1] != 0
    rim = inside & (cv2.erode(inside.view(np.uint8), _OUTLINE_KERNEL) == 0)
    out[y0:y1, x0:x1][rim] = colour


def _draw_label(
    out: np.ndarray,
    text: str,
    corner: tuple[int, int],
    colour: np.ndarray,
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
) -> None:
    """Draw `text` on a box of the object's colour just above `corner`, or inside if no room."""
    _, top, right, bottom = font.getbbox(text)
    pad = max(2, (bottom - top) // 4)
    box_w, box_h = int(right) + 2 * pad, int(bottom - top) + 2 * pad
    height, width = out.shape[:2]
    x = min(corner[0], max(width - box_w, 0))
    y = corner[1] - box_h if corner[1] >= box_h else min(corner[1], max(height - box_h, 0))
    patch = Image.fromarray(out[y : y + box_h, x : x + box_w])
    draw = ImageDraw.Draw(patch)
    draw.rectangle((0, 0, box_w, box_h), fill=tuple(int(c) for c in colour))
    draw.text((pad, pad - top), text, fill=_ink_for(colour), font=font)
    out[y : y + box_h, x : x + box_w] = np.asarray(patch)


def _ink_for(colour: np.ndarray) -> tuple[int, int, int]:
    """Pick black or white text, whichever reads better on `colour` (Rec. 601 luma)."""
    luma = 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2]
    return (0, 0, 0) if luma > 140 else (255, 255, 255)


def _png(image: Image.Image) -> bytes:
    """Encode as PNG with fast compression: renders are large and short-lived."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()
