"""Builders shared by the tests: settings, pictures, waiting for readiness."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw

from sam3_service.settings import Settings

# What SAM3_LINK_SECRET must be with authentication on: 32 bytes or more.
TEST_LINK_SECRET = "test-link-secret-" + "0123456789abcdef" * 2


def make_settings(model_dir: Path, data_dir: Path, **overrides: object) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        model=str(model_dir),
        data_dir=data_dir,
        device="cpu",
        **({"link_secret": TEST_LINK_SECRET} | overrides),  # type: ignore[arg-type]
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


@contextmanager
def serve_in_thread(app: FastAPI, **config: Any) -> Iterator[str]:
    """Run `app` under uvicorn (with `config`) on a free loopback port; yields its base URL,
    stops on exit."""
    config = {"log_level": "warning", **config}
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, **config))
    thread = threading.Thread(target=server.run, name="test-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
