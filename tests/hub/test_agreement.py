"""Mask agreement between two results: matched by IoU, the rest counted on each side."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sam3_service.errors import InvalidInput
from sam3_service.hub.agreement import Agreement, ScoredMask, compare_objects, result_objects
from sam3_service.inference import Engine, Prompt, Thresholds, build_tiny_model, load_engine
from sam3_service.media import encode_rle


def square(x: int, y: int, side: int = 10, shape: tuple[int, int] = (60, 80)) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[y : y + side, x : x + side] = True
    return mask


def objects(*masks: np.ndarray, score: float = 0.9) -> list[ScoredMask]:
    return [ScoredMask(mask, score) for mask in masks]


def test_identical_results_agree_fully() -> None:
    first = objects(square(0, 0), square(30, 20), square(60, 40))
    agreement = compare_objects(first, first)
    assert agreement == Agreement(3, 0, 0, mean_iou=1.0, score_shift=0.0, overall=1.0)


def test_disjoint_masks_are_counted_on_each_side() -> None:
    agreement = compare_objects(objects(square(0, 0), square(20, 0)), objects(square(50, 40)))
    assert (agreement.matched, agreement.only_first, agreement.only_second) == (0, 2, 1)
    assert agreement.mean_iou is None and agreement.score_shift is None
    assert agreement.overall == 0.0


def test_each_object_is_matched_once_to_its_best_overlap() -> None:
    first = objects(square(0, 0), square(4, 0))
    second = [ScoredMask(square(5, 0), 0.7)]  # IoU 1/3 with the first, 9/11 with the second
    agreement = compare_objects(first, second)
    assert (agreement.matched, agreement.only_first, agreement.only_second) == (1, 1, 0)
    assert agreement.mean_iou == pytest.approx(90 / 110)
    assert agreement.score_shift == pytest.approx(-0.2)
    assert agreement.overall == pytest.approx(90 / 110 / 2)


def test_overlaps_under_the_threshold_stay_apart() -> None:
    shifted = objects(square(6, 0))  # IoU 40 / 160 = 0.25 with square(0, 0)
    assert compare_objects(objects(square(0, 0)), shifted).matched == 0
    assert compare_objects(objects(square(0, 0)), shifted, min_iou=0.2).matched == 1
    with pytest.raises(ValueError):
        compare_objects([], [], min_iou=0)


def test_results_rle_and_arrays_compare_alike() -> None:
    result = {
        "objects": [
            {"id": 0, "score": 0.5, "rle": encode_rle(square(0, 0))},
            {"id": 1, "score": 0.6, "rle": encode_rle(square(30, 20))},
        ]
    }
    agreement = compare_objects(result_objects(result), objects(square(30, 20), square(0, 0)))
    assert (agreement.matched, agreement.mean_iou) == (2, 1.0)
    assert agreement.score_shift == pytest.approx(0.35)


def test_two_empty_results_agree() -> None:
    assert compare_objects([], []) == Agreement(0, 0, 0, None, None, 1.0)
    assert compare_objects([], objects(square(0, 0))).overall == 0.0


def test_masks_of_other_sizes_cannot_be_compared() -> None:
    with pytest.raises(InvalidInput, match="different sizes"):
        compare_objects(objects(square(0, 0)), objects(square(0, 0, shape=(40, 40))))


def test_two_empty_masks_are_the_same_mask() -> None:
    empty = np.zeros((60, 80), dtype=bool)
    agreement = compare_objects(objects(empty, square(0, 0)), objects(square(0, 0), empty))
    assert (agreement.matched, agreement.mean_iou) == (2, 1.0)


def detections(engine: Engine, image: Image.Image) -> list[ScoredMask]:
    found = engine.segment(image, "noise", Prompt(text="cat"), Thresholds(score=0.0))
    return [ScoredMask(det.mask, det.score) for det in found.detections]


def test_equal_weights_agree_and_another_seed_does_not(
    engine: Engine, tmp_path: Path, tiny_model_dir: Path
) -> None:
    """The tiny random SAM 3 against a copy of itself, then against one of another seed."""
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (80, 120, 3), np.uint8))
    served = detections(engine, image)
    copy = shutil.copytree(tiny_model_dir, tmp_path / "copy")
    other = build_tiny_model(tmp_path / "seed-1", seed=1)
    for folder in (copy, other):
        shadow = load_engine(str(folder), models_dir=tmp_path, device="cpu")
        try:
            agreement = compare_objects(served, detections(shadow, image))
        finally:
            shadow.close()
        if folder == copy:
            assert served and agreement.overall == 1.0 and agreement.score_shift == 0.0
        else:
            assert agreement.overall < 0.9, agreement
