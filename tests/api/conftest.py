"""An app on the tiny random SAM 3, with embedded backends in a temporary folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sam3_service.api.app import create_app
from sam3_service.domain.models import ModelHost
from sam3_service.runtime import model_host
from sam3_service.settings import Settings
from tests.helpers import make_settings, png_bytes, wait_ready


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


@pytest.fixture(scope="session")
def client(api_settings: Settings, shared_host: ModelHost) -> Iterator[TestClient]:
    with TestClient(create_app(api_settings, models=shared_host)) as test_client:
        wait_ready(test_client)
        yield test_client


@pytest.fixture
def image_png() -> bytes:
    return png_bytes()
