"""The concept head answers as a separately loaded `Sam3Model`, with text features cached."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from PIL import Image

from sam3_service.inference import Prompt, Sam3Engine

from .conftest import (
    EXEMPLARS,
    KEEP_ALL,
    TEXT,
    EngineFactory,
    assert_same,
    model_inputs,
)


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


def test_text_encoding_is_cached(
    make_engine: EngineFactory, image: Image.Image, image_sha: str
) -> None:
    engine = make_engine()
    for _ in range(2):
        engine.segment(image, image_sha, Prompt(text="dog"), KEEP_ALL)
    engine.segment(image, image_sha, Prompt(text="a dog"), KEEP_ALL)
    assert (engine.stats.text_encoder_runs, engine.stats.text_cache_hits) == (2, 1)
