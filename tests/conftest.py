"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from sam3_service.inference import Sam3Engine


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random SAM 3, built once per session (about a second)."""
    import torch

    from sam3_service.inference import build_tiny_model

    torch.set_num_threads(2)
    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny-random")


@pytest.fixture(scope="session")
def engine(tiny_model_dir: Path) -> Iterator[Sam3Engine]:
    """The SAM 3 engine on the tiny model, on the CPU, shared by the session."""
    from sam3_service.inference import load_engine

    engine = load_engine(str(tiny_model_dir), models_dir=tiny_model_dir.parent, device="cpu")
    yield engine
    engine.close()
