"""An app on the tiny random SAM 3, with embedded backends in a temporary folder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from sam3_service.api.app import create_app
from sam3_service.domain.models import ModelHost
from sam3_service.settings import Settings
from tests.helpers import png_bytes, wait_ready


@pytest.fixture(scope="session")
def client(api_settings: Settings, shared_host: ModelHost) -> Iterator[TestClient]:
    with TestClient(create_app(api_settings, models=shared_host)) as test_client:
        wait_ready(test_client)
        yield test_client


@pytest.fixture
def image_png() -> bytes:
    return png_bytes()
