"""How well two versions' results on one image agree, object by object.

Objects are matched greedily by mask IoU (the best pair first, each object at most once, pairs
under `min_iou` left apart; scipy, which an optimal assignment would need, is no dependency).
IoUs are computed on COCO RLE by pycocotools, so masks are never decoded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pycocotools import mask as coco_mask  # type: ignore[import-untyped]

from ..errors import InvalidInput
from ..media import encode_rle

__all__ = ["Agreement", "ScoredMask", "compare_objects", "result_objects"]


@dataclass(frozen=True)
class ScoredMask:
    """One object: its mask (HxW bool, or COCO RLE as in results) and its score."""

    mask: np.ndarray | dict[str, Any]
    score: float


@dataclass(frozen=True)
class Agreement:
    """Matched objects, those only in one result, and how the matched ones differ.

    `overall` is the matched IoUs' sum over every object counted once (matched pairs and
    those left alone): 1.0 for equal results, 0.0 when nothing matches.
    """

    matched: int
    only_first: int
    only_second: int
    mean_iou: float | None  # over the matched pairs; None without a pair
    score_shift: float | None  # the second's score minus the first's, averaged over pairs
    overall: float


def compare_objects(
    first: Sequence[ScoredMask], second: Sequence[ScoredMask], *, min_iou: float = 0.5
) -> Agreement:
    """Match `first`'s objects (the served result) with `second`'s (the shadow's).

    Raises InvalidInput if masks differ in size, ValueError unless 0 < `min_iou` <= 1.
    """
    if not 0 < min_iou <= 1:
        raise ValueError(f"min_iou must be within (0, 1], got {min_iou}")
    ious = _iou_matrix([_rle(o.mask) for o in first], [_rle(o.mask) for o in second])
    pairs = _greedy_pairs(ious, min_iou)
    matched = len(pairs)
    objects = len(first) + len(second) - matched
    iou_sum = float(sum(ious[i, j] for i, j in pairs))
    shifts = [second[j].score - first[i].score for i, j in pairs]
    return Agreement(
        matched=matched,
        only_first=len(first) - matched,
        only_second=len(second) - matched,
        mean_iou=iou_sum / matched if matched else None,
        score_shift=float(np.mean(shifts)) if shifts else None,
        overall=iou_sum / objects if objects else 1.0,
    )


def result_objects(result: dict[str, Any]) -> list[ScoredMask]:
    """The objects of an image result JSON (each has `rle` and `score`)."""
    return [ScoredMask(obj["rle"], float(obj["score"])) for obj in result["objects"]]


def _rle(mask: np.ndarray | dict[str, Any]) -> dict[str, Any]:
    rle = encode_rle(mask) if isinstance(mask, np.ndarray) else mask
    counts = rle["counts"]
    return {
        "size": [int(side) for side in rle["size"]],
        "counts": counts.encode("ascii") if isinstance(counts, str) else counts,
    }


def _iou_matrix(first: list[dict[str, Any]], second: list[dict[str, Any]]) -> np.ndarray:
    sizes = {tuple(rle["size"]) for rle in first + second}
    if len(sizes) > 1:
        raise InvalidInput(f"masks of different sizes cannot be compared: {sorted(sizes)}")
    if not first or not second:
        return np.zeros((len(first), len(second)))
    ious = np.asarray(coco_mask.iou(first, second, [0] * len(second)), dtype=float)
    empty_first = np.asarray(coco_mask.area(first)) == 0
    empty_second = np.asarray(coco_mask.area(second)) == 0
    ious[np.outer(empty_first, empty_second)] = 1.0  # two empty masks are the same mask
    return ious


def _greedy_pairs(ious: np.ndarray, min_iou: float) -> list[tuple[int, int]]:
    """Pairs of indices, the highest IoU first, each index used once, none under `min_iou`."""
    rows, cols = np.nonzero(ious >= min_iou)
    order = sorted(zip(rows.tolist(), cols.tolist(), strict=True), key=lambda p: -ious[p])
    used_first: set[int] = set()
    used_second: set[int] = set()
    pairs = []
    for i, j in order:
        if i not in used_first and j not in used_second:
            used_first.add(i)
            used_second.add(j)
            pairs.append((i, j))
    return pairs
