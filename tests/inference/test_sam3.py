"""Sam3Engine on the tiny random SAM 3: thresholds, result structure, prompt checks, turns.

Masks of a random model are random: these tests check structure and agreement with the
library's own classes, never what a mask looks like.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sam3_service.errors import InvalidInput, ModelNotReady
from sam3_service.inference import (
    Box,
    Point,
    Prompt,
    PromptMode,
    Sam3Engine,
    Segmentation,
    Thresholds,
)
from sam3_service.inference.sam3 import STAGES

from .conftest import (
    BOX,
    CLICK,
    CLICKS,
    EXEMPLARS,
    KEEP_ALL,
    TEXT,
    EngineFactory,
    assert_same_segmentation,
)


def test_score_threshold_filters(engine: Sam3Engine, image: Image.Image, image_sha: str) -> None:
    everything = engine.segment(image, image_sha, TEXT, Thresholds(score=0.0))
    nothing = engine.segment(image, image_sha, TEXT, Thresholds(score=1.0))
    assert len(everything.detections) > len(nothing.detections) == 0
    assert not engine.segment(image, image_sha, CLICK, Thresholds(score=1.0)).detections


def test_mask_threshold_changes_the_area(
    engine: Sam3Engine, image: Image.Image, image_sha: str
) -> None:
    def areas(prompt: Prompt, mask: float) -> list[int]:
        result = engine.segment(image, image_sha, prompt, Thresholds(score=0.0, mask=mask))
        return [int(detection.mask.sum()) for detection in result.detections]

    loose, strict = areas(TEXT, 0.3), areas(TEXT, 0.7)
    assert all(a >= b for a, b in zip(loose, strict, strict=True))
    assert sum(loose) > sum(strict)
    assert areas(CLICK, 0.0) == [80 * 120]  # every pixel is over probability 0


def test_results_are_deterministic(
    engine: Sam3Engine, make_engine: EngineFactory, image: Image.Image, image_sha: str
) -> None:
    again = make_engine()
    for prompt in (TEXT, CLICK):
        assert_same_segmentation(
            engine.segment(image, image_sha, prompt, KEEP_ALL),
            again.segment(image, image_sha, prompt, KEEP_ALL),
        )


@pytest.mark.parametrize("prompt", [TEXT, CLICKS], ids=["concept", "interactive"])
def test_result_structure(
    engine: Sam3Engine, image: Image.Image, image_sha: str, prompt: Prompt
) -> None:
    result = engine.segment(image, image_sha, prompt, KEEP_ALL)
    assert (result.width, result.height) == (120, 80)
    assert result.detections
    scores = [detection.score for detection in result.detections]
    assert scores == sorted(scores, reverse=True)
    for detection in result.detections:
        assert isinstance(detection.score, float) and 0.0 <= detection.score <= 1.0
        assert len(detection.box) == 4 and all(isinstance(v, float) for v in detection.box)
        x0, y0, x1, y1 = detection.box
        assert 0 <= x0 <= x1 <= 120 and 0 <= y0 <= y1 <= 80
        assert detection.mask.dtype == np.bool_ and detection.mask.shape == (80, 120)
    assert tuple(result.timings_ms) == STAGES
    assert all(isinstance(ms, float) and ms >= 0 for ms in result.timings_ms.values())


def test_info(engine: Sam3Engine, tiny_model_dir: Path) -> None:
    assert engine.info.name == tiny_model_dir.name
    assert engine.info.random is True
    assert (engine.info.device, engine.info.dtype) == ("cpu", "float32")
    assert len(engine.info.version) == 12


@pytest.mark.parametrize(
    ("prompt", "message"),
    [
        (Prompt(), "empty"),
        (Prompt(text="   "), "blank"),
        (Prompt(text="cat " * 40), "longer than 32 tokens"),
        (Prompt(boxes=(Box(10, 10, 5, 50),), mode=PromptMode.CONCEPT), "x0 < x1"),
        (Prompt(points=(Point(500, 10),)), "outside"),
        (Prompt(text="cat", points=(Point(5, 5),), mode=PromptMode.CONCEPT), "interactive mode"),
        (Prompt(boxes=(Box(1, 1, 9, 9, positive=False),)), "positive box"),
        (Prompt(text="cat", mode=PromptMode.INTERACTIVE), "concept mode"),
        (Prompt(boxes=(Box(1, 1, 9, 9), Box(2, 2, 8, 8)), mode=PromptMode.INTERACTIVE), "one box"),
        (Prompt(boxes=(Box(1, 1, 9, 9, positive=False),), mode=PromptMode.INTERACTIVE), "positive"),
        (Prompt(mask=np.ones((10, 10), dtype=bool)), "shape (80, 120)"),
        (Prompt(mask=np.ones((80, 120), dtype=np.uint8)), "bool array"),
    ],
)
def test_prompts_the_model_cannot_take(
    engine: Sam3Engine, image: Image.Image, image_sha: str, prompt: Prompt, message: str
) -> None:
    with pytest.raises(InvalidInput, match=re.escape(message)):
        engine.segment(image, image_sha, prompt, KEEP_ALL)


def test_threads_take_turns(engine: Sam3Engine, image: Image.Image, image_sha: str) -> None:
    expected = engine.segment(image, image_sha, TEXT, KEEP_ALL)
    results: list[Segmentation] = []

    def run() -> None:
        results.append(engine.segment(image, image_sha, TEXT, KEEP_ALL))

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 3
    for result in results:
        assert_same_segmentation(result, expected)


def test_closed_engine_is_not_ready(
    make_engine: EngineFactory, image: Image.Image, image_sha: str
) -> None:
    engine = make_engine()
    engine.segment(image, image_sha, TEXT, KEEP_ALL)
    engine.close()
    with pytest.raises(ModelNotReady):
        engine.segment(image, image_sha, TEXT, KEEP_ALL)
    with pytest.raises(ModelNotReady):
        _ = engine.weights.video


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_auto_device_is_the_gpu_in_bfloat16(
    make_engine: EngineFactory, image: Image.Image, image_sha: str
) -> None:
    engine = make_engine(device="auto")
    assert (engine.info.device, engine.info.dtype) == ("cuda", "bfloat16")
    mask = np.zeros((80, 120), dtype=bool)
    mask[10:40, 20:60] = True
    for prompt in (TEXT, EXEMPLARS, CLICK, CLICKS, BOX, Prompt(mask=mask)):
        result = engine.segment(image, image_sha, prompt, KEEP_ALL)
        assert result.detections
        for detection in result.detections:
            assert detection.mask.dtype == np.bool_ and detection.mask.shape == (80, 120)
    assert engine.stats.vision_encoder_runs == 1
