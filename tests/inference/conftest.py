"""Fixtures of the inference tests: a picture, fresh engines, video sessions on the tiny model."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import transformers
from PIL import Image

from sam3_service.inference import (
    Box,
    Point,
    Prompt,
    Sam3Engine,
    Segmentation,
    Thresholds,
    TrackedFrame,
    TrackingSpec,
    VideoPrompt,
    VideoSession,
    load_engine,
)
from tests.video_helpers import moving_shapes

EngineFactory = Callable[..., Sam3Engine]
SessionOpener = Callable[..., Any]

KEEP_ALL = Thresholds(score=0.0, mask=0.5)
TEXT = Prompt(text="cat")
EXEMPLARS = Prompt(boxes=(Box(10, 10, 60, 50), Box(70, 20, 110, 70, positive=False)))
CLICK = Prompt(points=(Point(30, 40),))
CLICKS = Prompt(points=(Point(30, 40), Point(90, 20, positive=False)))
BOX = Prompt(boxes=(Box(10, 10, 60, 50),))

WIDTH, HEIGHT = 80, 60  # of the video frames
# The random model scores its detections around 0.25: a low threshold makes it find some.
LOW = Thresholds(score=0.2, mask=0.5)
VIDEO_TEXT = VideoPrompt(text="person")


@pytest.fixture(scope="session")
def image() -> Image.Image:
    """A 120x80 noise picture: not square, so that width and height cannot be swapped."""
    pixels = np.random.default_rng(0).integers(0, 256, (80, 120, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


@pytest.fixture(scope="session")
def image_sha(image: Image.Image) -> str:
    return hashlib.sha256(image.tobytes()).hexdigest()


@pytest.fixture
def make_engine(tiny_model_dir: Path) -> Iterator[EngineFactory]:
    """Fresh engines (zeroed stats, empty caches; CPU unless told), closed after the test."""
    engines: list[Sam3Engine] = []

    def make(**options: Any) -> Sam3Engine:
        options = {"device": "cpu", **options}
        engine = load_engine(str(tiny_model_dir), models_dir=tiny_model_dir.parent, **options)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.close()


@pytest.fixture
def open_session(engine: Sam3Engine) -> Iterator[SessionOpener]:
    """Video sessions on WIDTH x HEIGHT frames, closed after the test."""
    sessions: list[VideoSession] = []

    def open_(prompt: VideoPrompt, thresholds: Thresholds = LOW, max_objects: int = 4) -> Any:
        session = engine.open_video(TrackingSpec(prompt, WIDTH, HEIGHT, thresholds, max_objects))
        sessions.append(session)
        return session

    yield open_
    for session in sessions:
        session.close()


def track(session: VideoSession, count: int) -> tuple[list[TrackedFrame], list[int]]:
    """Push `count` frames; returns every result and how many came back after each push."""
    results, returned = [], []
    for frame in moving_shapes(count, WIDTH, HEIGHT):
        ready = session.push(frame)
        returned.append(len(ready))
        results += ready
    return results + session.finish(), returned


def check_frames(results: list[TrackedFrame], count: int) -> None:
    """One result per frame, in order; every object a non-empty mask inside its box."""
    assert [frame.index for frame in results] == list(range(count))
    for frame in results:
        ids = [obj.id for obj in frame.objects]
        assert len(set(ids)) == len(ids)
        for obj in frame.objects:
            assert obj.mask.shape == (HEIGHT, WIDTH) and obj.mask.dtype == np.bool_
            assert obj.mask.any() and 0 <= obj.score <= 1
            x0, y0, x1, y1 = obj.box
            assert 0 <= x0 < x1 <= WIDTH and 0 <= y0 < y1 <= HEIGHT


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


def assert_same_segmentation(first: Segmentation, second: Segmentation) -> None:
    assert len(first.detections) == len(second.detections)
    for a, b in zip(first.detections, second.detections, strict=True):
        assert (a.score, a.box) == (b.score, b.box)
        assert np.array_equal(a.mask, b.mask)
