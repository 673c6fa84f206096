"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from sam3_service.domain.models import ModelHost
from sam3_service.runtime import model_host
from sam3_service.settings import Settings
from tests.helpers import make_settings

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


@pytest.fixture(scope="session")
def shared_host(
    tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ModelHost]:
    """One loaded tiny model shared by the API tests' apps."""
    settings = make_settings(tiny_model_dir, tmp_path_factory.mktemp("host"))
    host = model_host(settings, str(tiny_model_dir))
    host.load_blocking()
    yield host
    host.close()


@pytest.fixture(scope="session")
def api_settings(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_settings(tiny_model_dir, tmp_path_factory.mktemp("data"))
