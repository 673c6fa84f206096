"""What each SAM 3 head can take: a prompt is checked before any model work."""

from __future__ import annotations

import numpy as np

from ..errors import InvalidInput
from .base import Prompt, PromptMode

__all__ = ["check_prompt"]


def check_prompt(prompt: Prompt, mode: PromptMode, width: int, height: int) -> None:
    """Raise InvalidInput for a prompt that the chosen head cannot take."""
    if prompt.text is None and not (prompt.boxes or prompt.points or prompt.mask is not None):
        raise InvalidInput("the prompt is empty: give text, boxes, points or a mask")
    for point in prompt.points:
        _check_inside(point.x, point.y, width, height, "point")
    for box in prompt.boxes:
        _check_inside(box.x0, box.y0, width, height, "box corner")
        _check_inside(box.x1, box.y1, width, height, "box corner")
        if not (box.x0 < box.x1 and box.y0 < box.y1):
            raise InvalidInput(f"box {box.as_list()} must have x0 < x1 and y0 < y1")
    if mode is PromptMode.CONCEPT:
        _check_concept(prompt)
    else:
        _check_interactive(prompt, width, height)


def _check_inside(x: float, y: float, width: int, height: int, what: str) -> None:
    if not (0 <= x <= width and 0 <= y <= height):
        raise InvalidInput(f"{what} ({x}, {y}) lies outside the {width}x{height} image")


def _check_concept(prompt: Prompt) -> None:
    if prompt.points or prompt.mask is not None:
        raise InvalidInput("points and masks need the interactive mode, not the concept mode")
    if prompt.text is not None and not prompt.text.strip():
        raise InvalidInput("the text prompt is blank")
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
