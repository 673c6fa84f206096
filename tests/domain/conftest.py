"""The domain tests' services: embedded backends, the in-process queue and the loaded tiny model."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sam3_service.domain.models import ModelHost
from sam3_service.domain.services import Services
from sam3_service.runtime import open_services
from tests.helpers import make_settings


@pytest.fixture
async def services(
    tiny_model_dir: Path, tmp_path: Path, shared_host: ModelHost
) -> AsyncIterator[Services]:
    """Embedded backends and the loaded tiny model (the inline path where a test runs a task)."""
    async with open_services(make_settings(tiny_model_dir, tmp_path), models=shared_host) as opened:
        yield opened
