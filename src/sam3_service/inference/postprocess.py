"""From model outputs to detections: ranking, and probability thresholds as logit thresholds."""

from __future__ import annotations

import math
from typing import Any

import torch

from .base import Detection

__all__ = ["box_tuple", "finite_logit", "logit", "ranked_detections"]

_CLIP = 1e-6  # mask thresholds of 0 and 1 become finite logits of -13.8 and 13.8


def ranked_detections(
    scores: torch.Tensor, boxes: torch.Tensor, masks: torch.Tensor
) -> list[Detection]:
    order = torch.argsort(scores.float(), descending=True, stable=True)
    ranked_masks = masks[order].bool().cpu().numpy()
    ranked = zip(
        scores.float()[order].tolist(), boxes.float()[order].tolist(), ranked_masks, strict=True
    )
    return [Detection(score, box_tuple(box), mask) for score, box, mask in ranked]


def box_tuple(values: list[Any]) -> tuple[float, float, float, float]:
    """`[x0, y0, x1, y1]` as a tuple of floats."""
    x0, y0, x1, y1 = (float(value) for value in values)
    return x0, y0, x1, y1


def logit(probability: float) -> float:
    """A probability threshold as a logit threshold: 0 keeps every pixel, 1 none."""
    if probability <= 0:
        return -math.inf
    if probability >= 1:
        return math.inf
    return math.log(probability / (1 - probability))


def finite_logit(probability: float) -> float:
    """A probability threshold as a finite logit (for masks resized before the comparison)."""
    clipped = min(max(probability, _CLIP), 1 - _CLIP)
    return math.log(clipped / (1 - clipped))
