"""Attention kernels and compilation change speed, never answers."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from PIL import Image

from sam3_service.inference import Point, Prompt, Segmentation, Thresholds

from .conftest import EngineFactory

KEEP_ALL = Thresholds(score=0.0, mask=0.5)
PROMPTS = [Prompt(text="cat"), Prompt(points=(Point(30, 40),))]


def assert_close(first: Segmentation, second: Segmentation) -> None:
    assert len(first.detections) == len(second.detections)
    for a, b in zip(first.detections, second.detections, strict=True):
        assert a.score == pytest.approx(b.score, abs=1e-4)
        np.testing.assert_allclose(a.box, b.box, atol=0.5)
        assert np.mean(a.mask != b.mask) < 0.002


def test_eager_attention_answers_as_sdpa(make_engine: EngineFactory, image: Image.Image) -> None:
    sha = hashlib.sha256(image.tobytes()).hexdigest()
    sdpa, eager = make_engine(attention="sdpa"), make_engine(attention="eager")
    assert sdpa.weights.detector.config._attn_implementation == "sdpa"
    assert eager.weights.detector.config._attn_implementation == "eager"
    for prompt in PROMPTS:
        assert_close(
            sdpa.segment(image, sha, prompt, KEEP_ALL), eager.segment(image, sha, prompt, KEEP_ALL)
        )


def test_compilation_is_off_on_the_cpu_by_default(make_engine: EngineFactory) -> None:
    assert not make_engine()._encoder.compiled


@pytest.mark.slow
def test_the_compiled_backbone_answers_as_the_plain_one(
    make_engine: EngineFactory, image: Image.Image
) -> None:
    """About a minute on two cores: inductor compiles the tiny ViT once."""
    sha = hashlib.sha256(image.tobytes()).hexdigest()
    compiled, plain = make_engine(compile_vision=True), make_engine()
    assert compiled._encoder.compiled
    for prompt in PROMPTS:
        assert_close(
            compiled.segment(image, sha, prompt, KEEP_ALL),
            plain.segment(image, sha, prompt, KEEP_ALL),
        )
