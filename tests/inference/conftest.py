"""Fixtures of the inference tests: a picture and fresh engines on the tiny model."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from sam3_service.inference import Sam3Engine, load_engine

EngineFactory = Callable[..., Sam3Engine]


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
