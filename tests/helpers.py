"""Builders shared by the tests: settings, pictures, waiting for readiness."""

from __future__ import annotations

import io
import time
from pathlib import Path

from fastapi.testclient import TestClient
from PIL import Image, ImageDraw

from sam3_service.settings import Settings


def make_settings(model_dir: Path, data_dir: Path, **overrides: object) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        model=str(model_dir),
        data_dir=data_dir,
        device="cpu",
        **overrides,  # type: ignore[arg-type]
    )


def wait_ready(client: TestClient, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if client.get("/ready").status_code == 200:
            return
        time.sleep(0.05)
    raise AssertionError(f"not ready: {client.get('/ready').json()}")


def png_bytes(width: int = 320, height: int = 240, *, fmt: str = "PNG") -> bytes:
    """A synthetic picture: two shapes on a gradient."""
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    for x in range(0, width, 8):
        draw.rectangle([x, 0, x + 8, height], fill=(x * 255 // width, 90, 160))
    draw.ellipse([width // 8, height // 4, width // 2, height * 3 // 4], fill=(230, 200, 40))
    draw.rectangle([width * 5 // 8, height // 5, width * 7 // 8, height // 2], fill=(20, 160, 60))
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()
