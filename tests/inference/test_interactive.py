"""The interactive head answers as a separately loaded `Sam3TrackerModel`; masks as prompts."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from sam3_service.inference import Prompt, Sam3Engine, Thresholds

from .conftest import BOX, CLICK, CLICKS, assert_same, model_inputs


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


def test_mask_prompt(engine: Sam3Engine, image: Image.Image, image_sha: str) -> None:
    mask = np.zeros((80, 120), dtype=bool)
    mask[20:60, 30:90] = True
    result = engine.segment(image, image_sha, Prompt(mask=mask), Thresholds(score=0.0, mask=0.0))
    assert len(result.detections) == 1
    assert result.detections[0].box == (0.0, 0.0, 120.0, 80.0)
