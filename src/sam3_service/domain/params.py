"""What a caller asks for, validated: the prompt fields and options of one segmentation."""

from __future__ import annotations

import copy
import functools
import math
import re
import unicodedata
from enum import StrEnum
from typing import Annotated, Any, TypeVar

from annotated_types import MaxLen
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, create_model, field_validator

from ..errors import InvalidInput
from ..inference.base import Box, Point, Prompt, PromptMode, Thresholds


class MaskFormat(StrEnum):
    """Mask encodings a result may carry; COCO RLE is always there."""

    RLE = "rle"
    PNG = "png"
    POLYGONS = "polygons"


_ALLOWED_PUNCTUATION = set(" -'’.,&/()+")


def _is_english_char(char: str) -> bool:
    if char.isascii():
        return char.isalnum() or char in _ALLOWED_PUNCTUATION
    return unicodedata.name(char, "").startswith("LATIN") or char in _ALLOWED_PUNCTUATION


def normalise_text(text: str) -> str:
    """Lower-case and collapse white space, so that 'A  Cat' and 'a cat' share a cache entry."""
    return re.sub(r"\s+", " ", text).strip().lower()


Number = Annotated[float, Field(allow_inf_nan=False)]
M = TypeVar("M", bound="SegmentParams")
_BOUNDED = ("prompt", "boxes", "points")


class SegmentParams(BaseModel):
    """Prompt and options of one image segmentation, as stored with its task."""

    model_config = ConfigDict(extra="forbid")

    prompt: str | None = Field(
        None, description="An English noun or short phrase, e.g. 'cat' or 'red car'."
    )
    boxes: list[list[Number]] = Field(
        default_factory=list,
        description="Boxes `[x0, y0, x1, y1]` in pixels, or `[x0, y0, x1, y1, label]` with label "
        "1 (include, the default) or 0 (exclude).",
    )
    points: list[list[Number]] = Field(
        default_factory=list,
        description="Clicks `[x, y]` or `[x, y, label]` with label 1 (object) or 0 (background).",
    )
    mode: PromptMode = Field(
        PromptMode.AUTO,
        description="`concept`: every instance of the text/exemplars; `interactive`: the one "
        "object marked by clicks or a box; `auto` chooses from the prompt.",
    )
    score_threshold: Number | None = Field(None, ge=0, le=1)
    mask_threshold: Number | None = Field(None, ge=0, le=1)
    mask_format: list[MaskFormat] = Field(
        default_factory=lambda: [MaskFormat.RLE],
        description="Extra mask encodings: `png` (base64 PNG per object), `polygons`.",
    )

    @field_validator(*_BOUNDED, mode="before")
    @classmethod
    def _within_max_length(cls, value: Any, info: ValidationInfo) -> Any:
        """Refuse a field over its `max_length` before any of its items is validated."""
        limit = _max_length(cls, str(info.field_name))
        if limit is not None and isinstance(value, str | list) and len(value) > limit:
            unit = "characters" if isinstance(value, str) else "items"
            raise ValueError(f"too many {unit}: {len(value)}, at most {limit}")
        return value

    @field_validator("prompt")
    @classmethod
    def _english_prompt(cls, value: str | None) -> str | None:
        if value is None:
            return None
        text = " ".join(value.split())
        if not text:
            return None
        foreign = sorted({c for c in text if not _is_english_char(c)})
        if foreign:
            raise ValueError(
                "prompts must be English words (SAM 3 understands English only), e.g. 'cat' or "
                f"'red car'; found {''.join(foreign)!r}"
            )
        return text

    @field_validator("boxes")
    @classmethod
    def _box_shapes(cls, value: list[list[float]]) -> list[list[float]]:
        for box in value:
            if len(box) not in (4, 5):
                raise ValueError(f"a box is [x0, y0, x1, y1] or [x0, y0, x1, y1, label], got {box}")
            if len(box) == 5 and box[4] not in (0, 1):
                raise ValueError(f"a box label is 1 (include) or 0 (exclude), got {box[4]}")
            if not (box[0] < box[2] and box[1] < box[3]):
                raise ValueError(f"a box needs x0 < x1 and y0 < y1, got {box[:4]}")
        return value

    @field_validator("points")
    @classmethod
    def _point_shapes(cls, value: list[list[float]]) -> list[list[float]]:
        for point in value:
            if len(point) not in (2, 3):
                raise ValueError(f"a point is [x, y] or [x, y, label], got {point}")
            if len(point) == 3 and point[2] not in (0, 1):
                raise ValueError(f"a point label is 1 (object) or 0 (background), got {point[2]}")
        return value

    def thresholds(self, defaults: Thresholds) -> Thresholds:
        """The request's thresholds, falling back to the service defaults."""
        return Thresholds(
            score=defaults.score if self.score_threshold is None else self.score_threshold,
            mask=defaults.mask if self.mask_threshold is None else self.mask_threshold,
        )

    def cache_identity(self, defaults: Thresholds) -> dict[str, Any]:
        """Everything that changes the result, normalised, for cache and de-duplication keys."""
        thresholds = self.thresholds(defaults)
        return {
            "prompt": normalise_text(self.prompt) if self.prompt else None,
            "boxes": self.boxes,
            "points": self.points,
            "mode": self.mode.value,
            "score": thresholds.score,
            "mask": thresholds.mask,
            "formats": sorted(f.value for f in self.mask_format),
        }


@functools.cache
def bounded(model: type[M], *, prompt_chars: int, boxes: int, points: int) -> type[M]:
    """`model` with `max_length` on its prompt, boxes and points (the limits from settings)."""
    limits = {"prompt": prompt_chars, "boxes": boxes, "points": points}
    fields: dict[str, Any] = {}
    for name, limit in limits.items():
        info = copy.copy(model.model_fields[name])
        info.metadata = [*info.metadata, MaxLen(limit)]
        fields[name] = (info.annotation, info)
    return create_model(model.__name__, __base__=model, __module__=model.__module__, **fields)


def _max_length(model: type[BaseModel], name: str) -> int | None:
    metadata = model.model_fields[name].metadata
    return next((m.max_length for m in metadata if isinstance(m, MaxLen)), None)


class TaskParams(SegmentParams):
    """A task's stored params: the caller's, plus what the service adds (never a client)."""

    mask_key: str | None = Field(None, description="The stored input mask's blob key.")

    def cache_identity(self, defaults: Thresholds) -> dict[str, Any]:
        """Everything that changes the result, the input mask included."""
        return {**super().cache_identity(defaults), "mask_key": self.mask_key}


def build_prompt(
    params: SegmentParams,
    *,
    width: int,
    height: int,
    max_boxes: int,
    max_points: int,
    mask: Any = None,
) -> Prompt:
    """Check the prompt against the image and the limits, and turn it into the engine's Prompt."""
    if len(params.boxes) > max_boxes:
        raise InvalidInput(f"too many boxes: {len(params.boxes)}, at most {max_boxes}")
    if len(params.points) > max_points:
        raise InvalidInput(f"too many points: {len(params.points)}, at most {max_points}")
    for box in params.boxes:
        _check_inside(box[:4], width, height, "box")
    for point in params.points:
        _check_inside(point[:2], width, height, "point")
    if params.prompt is None and not params.boxes and not params.points and mask is None:
        raise InvalidInput("empty prompt: give a text prompt, boxes, points or a mask")
    return Prompt(
        text=params.prompt,
        boxes=tuple(
            Box(b[0], b[1], b[2], b[3], positive=len(b) == 4 or b[4] == 1) for b in params.boxes
        ),
        points=tuple(Point(p[0], p[1], positive=len(p) == 2 or p[2] == 1) for p in params.points),
        mask=mask,
        mode=params.mode,
    )


def _check_inside(coords: list[float], width: int, height: int, what: str) -> None:
    xs, ys = coords[0::2], coords[1::2]
    if any(not math.isfinite(c) for c in coords):
        raise InvalidInput(f"{what} coordinates must be finite numbers, got {coords}")
    if min(xs) < 0 or min(ys) < 0 or max(xs) > width or max(ys) > height:
        raise InvalidInput(
            f"{what} {coords} lies outside the image, which is {width}x{height} pixels"
        )
