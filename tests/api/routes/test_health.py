"""/health and /ready while the model loads, once it is ready, and when it cannot load."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sam3_service.api.app import create_app
from sam3_service.domain.models import ModelHost
from sam3_service.inference.base import Engine
from tests.helpers import make_settings, png_bytes, wait_ready


def test_ready_when_the_model_is_loaded(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    body = client.get("/ready").json()
    assert body["status"] == "ready"
    assert body["model"]["random"] is True
    assert body["checks"] == {
        "task_store": "ok",
        "blob_store": "ok",
        "task_queue": "ok",
        "cache": "ok",
    }
    assert body["reasons"] == []


def test_starting_then_ready(tmp_path: Path, tiny_model_dir: Path, shared_host: ModelHost) -> None:
    release = threading.Event()

    def slow_load() -> Engine:
        release.wait(30)
        return shared_host.engine()

    host = ModelHost("slow", slow_load)
    host.start()
    settings = make_settings(tiny_model_dir, tmp_path)
    with TestClient(create_app(settings, models=host)) as client:
        starting = client.get("/ready")
        assert starting.status_code == 503
        assert starting.json()["status"] == "starting"
        assert client.get("/health").status_code == 200
        response = client.post(
            "/v1/segment",
            files={"file": ("x.png", png_bytes(), "image/png")},
            data={"prompt": "cat"},
        )
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "model_not_ready"
        assert response.headers["Retry-After"] == "5"
        queued = client.post(
            "/v1/tasks",
            files={"file": ("x.png", png_bytes(), "image/png")},
            data={"points": "[[40, 50]]"},
        )
        assert queued.status_code == 202
        time.sleep(0.5)  # the embedded worker has picked it up: it waits for the model
        assert client.get(queued.headers["Location"]).json()["status"] == "queued"
        release.set()
        wait_ready(client)
        body = _wait_finished(client, queued.headers["Location"])
        assert body["status"] == "succeeded", body
        assert len(body["result"]["objects"]) == 1
        tasks = client.get("/v1/tasks").json()["tasks"]
        assert [t["status"] for t in tasks] == ["succeeded"]  # the refused request left none


def test_a_model_that_cannot_load_says_how_to_fix_it(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "no-such-model", tmp_path / "data")
    with TestClient(create_app(settings)) as client:
        assert client.get("/health").status_code == 200
        host_state = _wait_not_starting(client)
        assert host_state.status_code == 503
        body = host_state.json()
        assert body["status"] == "failed"
        for hint in ("hf download facebook/sam3", "SAM3_MODEL", "tiny-random"):
            assert hint in body["reason"]


@pytest.mark.parametrize("spec", ["facebook/sam3"])
def test_a_hub_id_not_in_the_cache_fails_with_advice(
    tmp_path: Path, spec: str, monkeypatch
) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    settings = make_settings(tmp_path, tmp_path / "data").model_copy(update={"model": spec})
    with TestClient(create_app(settings)) as client:
        body = _wait_not_starting(client).json()
        assert body["status"] == "failed"
        assert "hf download facebook/sam3" in body["reason"]


def _wait_finished(client: TestClient, location: str) -> dict:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        body = client.get(location).json()
        if body["status"] not in ("queued", "running"):
            return body
        time.sleep(0.05)
    raise AssertionError(f"still unfinished: {body}")


def _wait_not_starting(client: TestClient):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        response = client.get("/ready")
        if response.json()["status"] != "starting":
            return response
        time.sleep(0.05)
    raise AssertionError("still starting")
