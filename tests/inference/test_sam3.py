"""Sam3Engine on the tiny random SAM 3: one copy of the weights, cached encoders, same answers.

Masks of a random model are random: these tests check structure and agreement with the
library's own classes, never what a mask looks like.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import transformers
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

from .conftest import EngineFactory

KEEP_ALL = Thresholds(score=0.0, mask=0.5)
TEXT = Prompt(text="cat")
EXEMPLARS = Prompt(boxes=(Box(10, 10, 60, 50), Box(70, 20, 110, 70, positive=False)))
CLICK = Prompt(points=(Point(30, 40),))
CLICKS = Prompt(points=(Point(30, 40), Point(90, 20, positive=False)))
BOX = Prompt(boxes=(Box(10, 10, 60, 50),))


@pytest.fixture(scope="module")
def reference(tiny_model_dir: Path) -> dict[str, Any]:
    """The library's classes, each loaded on its own from the same folder."""
    return {
        "detector": transformers.Sam3Model.from_pretrained(tiny_model_dir).eval(),
        "processor": transformers.Sam3Processor.from_pretrained(tiny_model_dir),
        "tracker": transformers.Sam3TrackerModel.from_pretrained(tiny_model_dir).eval(),
        "tracker_processor": transformers.Sam3TrackerProcessor.from_pretrained(tiny_model_dir),
    }


def model_inputs(encoding: transformers.BatchEncoding) -> dict[str, torch.Tensor]:
    return {key: value for key, value in encoding.items() if key != "original_sizes"}


def assert_same(result: Segmentation, scores: list[float], boxes: list[Any], masks: Any) -> None:
    np.testing.assert_allclose([d.score for d in result.detections], scores, rtol=0, atol=1e-6)
    np.testing.assert_allclose([d.box for d in result.detections], boxes, rtol=0, atol=1e-4)
    for detection, mask in zip(result.detections, masks, strict=True):
        assert np.array_equal(detection.mask, np.asarray(mask, dtype=bool))


def count(model: torch.nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters())


def assert_same_segmentation(first: Segmentation, second: Segmentation) -> None:
    assert len(first.detections) == len(second.detections)
    for a, b in zip(first.detections, second.detections, strict=True):
        assert (a.score, a.box) == (b.score, b.box)
        assert np.array_equal(a.mask, b.mask)


@pytest.mark.parametrize("prompt", [TEXT, EXEMPLARS], ids=["text", "exemplar-boxes"])
def test_concept_matches_a_separately_loaded_sam3_model(
    engine: Sam3Engine,
    reference: dict[str, Any],
    image: Image.Image,
    image_sha: str,
    prompt: Prompt,
) -> None:
    processor = reference["processor"]
    boxes = [[box.as_list() for box in prompt.boxes]] if prompt.boxes else None
    labels = [[int(box.positive) for box in prompt.boxes]] if prompt.boxes else None
    encoding = processor(
        images=image,
        text=prompt.text,
        input_boxes=boxes,
        input_boxes_labels=labels,
        return_tensors="pt",
    )
    with torch.inference_mode():
        outputs = reference["detector"](**model_inputs(encoding))
    expected = processor.post_process_instance_segmentation(
        outputs, threshold=0.0, mask_threshold=0.5, target_sizes=[(80, 120)]
    )[0]
    order = torch.argsort(expected["scores"], descending=True, stable=True)

    result = engine.segment(image, image_sha, prompt, KEEP_ALL)

    assert len(result.detections) == len(order) > 0
    assert_same(
        result,
        expected["scores"][order].tolist(),
        expected["boxes"][order].tolist(),
        expected["masks"][order].numpy(),
    )


@pytest.mark.parametrize(
    ("prompt", "multimask"),
    [(CLICK, True), (CLICKS, False), (BOX, False)],
    ids=["click", "clicks", "box"],
)
def test_interactive_matches_a_separately_loaded_sam3_tracker(
    engine: Sam3Engine,
    reference: dict[str, Any],
    image: Image.Image,
    image_sha: str,
    prompt: Prompt,
    multimask: bool,
) -> None:
    processor = reference["tracker_processor"]
    encoding = processor(
        images=image,
        input_points=[[[[p.x, p.y] for p in prompt.points]]] if prompt.points else None,
        input_labels=[[[int(p.positive) for p in prompt.points]]] if prompt.points else None,
        input_boxes=[[prompt.boxes[0].as_list()]] if prompt.boxes else None,
        return_tensors="pt",
    )
    with torch.inference_mode():
        outputs = reference["tracker"](**model_inputs(encoding), multimask_output=multimask)
    best = int(outputs.iou_scores[0, 0].argmax())
    mask = processor.post_process_masks(outputs.pred_masks, [(80, 120)])[0][0, best]
    assert mask.any()

    result = engine.segment(image, image_sha, prompt, Thresholds(score=0.0, mask=0.5))

    rows, columns = np.nonzero(mask.numpy())
    box = [columns.min(), rows.min(), columns.max() + 1, rows.max() + 1]
    assert_same(result, [float(outputs.iou_scores[0, 0, best])], [box], [mask.numpy()])


def test_engine_holds_one_copy_of_the_weights(engine: Sam3Engine, tiny_model_dir: Path) -> None:
    def storages(module: torch.nn.Module) -> set[int]:
        return {p.untyped_storage().data_ptr() for p in module.parameters()}

    owned = storages(engine.video_model)
    assert storages(engine.detector) <= owned
    assert storages(engine.tracker) <= owned
    separate = [
        getattr(transformers, name).from_pretrained(tiny_model_dir)
        for name in ("Sam3Model", "Sam3TrackerModel", "Sam3VideoModel")
    ]
    assert count(engine.video_model) == count(separate[2])
    assert sum(count(model) for model in separate) > 1.5 * count(engine.video_model)


def test_one_image_encoding_serves_every_prompt_and_head(
    make_engine: EngineFactory, image: Image.Image, image_sha: str
) -> None:
    engine = make_engine()
    first = engine.segment(image, image_sha, TEXT, KEEP_ALL)
    second = engine.segment(image, image_sha, EXEMPLARS, KEEP_ALL)
    third = engine.segment(image, image_sha, CLICK, KEEP_ALL)
    assert (first.vision_cache_hit, second.vision_cache_hit, third.vision_cache_hit) == (
        False,
        True,
        True,
    )
    assert engine.stats.vision_encoder_runs == 1
    assert engine.stats.vision_cache_hits == 2
    # The head's neck is cached too: a second concept prompt runs no image encoding at all.
    assert second.timings_ms.get("encode_image", 0.0) < first.timings_ms["encode_image"] / 10


def test_text_encoding_is_cached(
    make_engine: EngineFactory, image: Image.Image, image_sha: str
) -> None:
    engine = make_engine()
    for _ in range(2):
        engine.segment(image, image_sha, Prompt(text="dog"), KEEP_ALL)
    engine.segment(image, image_sha, Prompt(text="a dog"), KEEP_ALL)
    assert (engine.stats.text_encoder_runs, engine.stats.text_cache_hits) == (2, 1)


def test_cached_and_uncached_results_are_identical(
    make_engine: EngineFactory, image: Image.Image, image_sha: str
) -> None:
    cached = make_engine()
    uncached = make_engine(vision_cache_bytes=0, text_cache_entries=0)
    for prompt in (TEXT, EXEMPLARS, CLICK, BOX):
        cached.segment(image, image_sha, prompt, KEEP_ALL)
        warm = cached.segment(image, image_sha, prompt, KEEP_ALL)
        cold = uncached.segment(image, image_sha, prompt, KEEP_ALL)
        assert warm.vision_cache_hit and not cold.vision_cache_hit
        assert_same_segmentation(warm, cold)
    assert cached.stats.vision_encoder_runs == 1
    assert uncached.stats.vision_encoder_runs == 4
    assert uncached.stats.vision_cache_hits == uncached.stats.text_cache_hits == 0


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


def test_mask_prompt(engine: Sam3Engine, image: Image.Image, image_sha: str) -> None:
    mask = np.zeros((80, 120), dtype=bool)
    mask[20:60, 30:90] = True
    result = engine.segment(image, image_sha, Prompt(mask=mask), Thresholds(score=0.0, mask=0.0))
    assert len(result.detections) == 1
    assert result.detections[0].box == (0.0, 0.0, 120.0, 80.0)


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
        _ = engine.video_model


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
