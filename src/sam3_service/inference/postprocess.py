"""From model outputs to detections: ranking, boxes around masks, thresholds as logits."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from .base import Detection

__all__ = ["bounding_box", "logit", "ranked_detections"]


def ranked_detections(
    scores: torch.Tensor, boxes: torch.Tensor, masks: torch.Tensor
) -> list[Detection]:
    order = torch.argsort(scores.float(), descending=True, stable=True)
    ranked_masks = masks[order].bool().cpu().numpy()
    ranked = zip(
        scores.float()[order].tolist(), boxes.float()[order].tolist(), ranked_masks, strict=True
    )
    return [Detection(score, _box(box), mask) for score, box, mask in ranked]


def _box(values: list[Any]) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = (float(value) for value in values)
    return x0, y0, x1, y1


def bounding_box(mask: np.ndarray) -> tuple[float, float, float, float] | None:
    """`[x0, y0, x1, y1]` around the mask's pixels (x1, y1 exclusive), None for an empty mask."""
    rows = np.flatnonzero(mask.any(axis=1))
    columns = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return float(columns[0]), float(rows[0]), float(columns[-1] + 1), float(rows[-1] + 1)


def logit(probability: float) -> float:
    """A probability threshold as a logit threshold: 0 keeps every pixel, 1 none."""
    if probability <= 0:
        return -math.inf
    if probability >= 1:
        return math.inf
    return math.log(probability / (1 - probability))
