"""Prompts before any model work: what each head can take; clicks as the processors take them."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import InvalidInput
from .base import Point, Prompt, PromptMode, TrackingSpec

__all__ = ["check_prompt", "check_tracking", "click_inputs"]


def check_prompt(prompt: Prompt, mode: PromptMode, width: int, height: int) -> None:
    """Raise InvalidInput for a prompt that the chosen head cannot take."""
    if prompt.text is None and not (prompt.boxes or prompt.points or prompt.mask is not None):
        raise InvalidInput("the prompt is empty: give text, boxes, points or a mask")
    for point in prompt.points:
        _check_inside(point.x, point.y, width, height, what="point ")
    for box in prompt.boxes:
        _check_inside(box.x0, box.y0, width, height, what="box corner ")
        _check_inside(box.x1, box.y1, width, height, what="box corner ")
        if not (box.x0 < box.x1 and box.y0 < box.y1):
            raise InvalidInput(f"box {box.as_list()} must have x0 < x1 and y0 < y1")
    if mode is PromptMode.CONCEPT:
        _check_concept(prompt)
    else:
        _check_interactive(prompt, width, height)


def check_tracking(spec: TrackingSpec) -> None:
    """Raise InvalidInput for a video prompt or an object cap that a session cannot take."""
    prompt = spec.prompt
    clicks = bool(prompt.points) or prompt.box is not None
    if (prompt.text is None) == (not clicks):
        raise InvalidInput("a video prompt is either text, or points and/or one box")
    _check_text(prompt.text)
    if prompt.frame < 0:
        raise InvalidInput(f"the prompt's frame must be 0 or more, got {prompt.frame}")
    corners = [(point.x, point.y) for point in prompt.points]
    if prompt.box is not None:
        box = prompt.box
        if not (box.positive and box.x0 < box.x1 and box.y0 < box.y1):
            raise InvalidInput(f"the box {box.as_list()} must be positive with x0 < x1, y0 < y1")
        corners += [(box.x0, box.y0), (box.x1, box.y1)]
    for x, y in corners:
        _check_inside(x, y, spec.width, spec.height, place="frame")
    if spec.max_objects < 1:
        raise InvalidInput(f"max_objects must be at least 1, got {spec.max_objects}")


def click_inputs(
    points: Sequence[Point],
) -> tuple[list[list[list[list[float]]]] | None, list[list[list[int]]] | None]:
    """Clicks of one object in one image as the processors take them: points and labels."""
    if not points:
        return None, None
    return [[[[point.x, point.y] for point in points]]], [[[int(p.positive) for p in points]]]


def _check_inside(
    x: float, y: float, width: int, height: int, *, what: str = "", place: str = "image"
) -> None:
    if not (0 <= x <= width and 0 <= y <= height):
        raise InvalidInput(f"{what}({x}, {y}) lies outside the {width}x{height} {place}")


def _check_text(text: str | None) -> None:
    if text is not None and not text.strip():
        raise InvalidInput("the text prompt is blank")


def _check_concept(prompt: Prompt) -> None:
    if prompt.points or prompt.mask is not None:
        raise InvalidInput("points and masks need the interactive mode, not the concept mode")
    _check_text(prompt.text)
    if prompt.text is None and not any(box.positive for box in prompt.boxes):
        raise InvalidInput("a concept prompt needs text or at least one positive box")


def _check_interactive(prompt: Prompt, width: int, height: int) -> None:
    if prompt.text is not None:
        raise InvalidInput("text needs the concept mode, not the interactive mode")
    if len(prompt.boxes) > 1:
        raise InvalidInput(
            "the interactive mode takes one box; several boxes need the concept mode"
        )
    if prompt.boxes and not prompt.boxes[0].positive:
        raise InvalidInput("the interactive box must be positive; mark background with points")
    mask = prompt.mask
    if mask is not None and (mask.dtype != np.bool_ or mask.shape != (height, width)):
        raise InvalidInput(f"the mask must be a bool array of shape ({height}, {width})")
