"""/ready tells a balancer what this replica can do: 200 `degraded` while Redis (optional) is
unreachable and requests are still served; 503 when it cannot serve or is stopping."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sam3_service.api.app import create_app
from sam3_service.domain.models import ModelHost
from tests.helpers import make_settings, png_bytes

UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"  # a closed port: refused at once


def test_without_redis_the_model_replica_is_degraded_and_serves(
    tiny_model_dir: Path, tmp_path: Path, shared_host: ModelHost
) -> None:
    settings = make_settings(tiny_model_dir, tmp_path, redis_url=UNREACHABLE_REDIS)
    with TestClient(create_app(settings, models=shared_host)) as client:
        ready = client.get("/ready")
        segmented = client.post(
            "/v1/segment",
            files={"file": ("x.png", png_bytes(), "image/png")},
            data={"points": "[[40, 50]]"},
        )
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["status"] == "degraded" and body["model"]["random"] is True
    assert body["checks"]["task_store"] == body["checks"]["blob_store"] == "ok"
    assert body["checks"]["cache"] != "ok" and "Redis" in body["checks"]["cache"]
    assert [reason.split(":")[0] for reason in body["reasons"]] == ["cache"]
    assert segmented.status_code == 200, segmented.text


def test_without_redis_the_rate_limiter_is_named_too(
    tiny_model_dir: Path, tmp_path: Path, shared_host: ModelHost
) -> None:
    settings = make_settings(
        tiny_model_dir, tmp_path, redis_url=UNREACHABLE_REDIS, auth_enabled=True
    )
    with TestClient(create_app(settings, models=shared_host)) as client:
        ready = client.get("/ready")
    assert ready.status_code == 200, ready.text
    assert [r.split(":")[0] for r in ready.json()["reasons"]] == ["cache", "rate_limiter"]


@pytest.mark.amqp
def test_without_redis_an_api_replica_of_workers_takes_tasks(
    tiny_model_dir: Path, tmp_path: Path, amqp_url: str, queue_name: str
) -> None:
    """The workers report through Redis: with it down their state is unknown, but the broker
    still takes tasks, so the replica stays in rotation."""
    settings = make_settings(
        tiny_model_dir,
        tmp_path,
        redis_url=UNREACHABLE_REDIS,
        broker_url=amqp_url,
        broker_queue=queue_name,
    )
    with TestClient(create_app(settings)) as client:
        ready = client.get("/ready")
        queued = client.post(
            "/v1/tasks",
            files={"file": ("x.png", png_bytes(), "image/png")},
            data={"points": "[[40, 50]]"},
        )
    assert ready.status_code == 200, ready.text
    assert ready.json()["status"] == "degraded"
    assert queued.status_code == 202, queued.text


def test_a_required_backend_down_is_503_unavailable(
    tiny_model_dir: Path, tmp_path: Path, shared_host: ModelHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    settings = make_settings(
        tiny_model_dir, tmp_path, storage_url="s3://bucket", s3_endpoint_url="http://127.0.0.1:1"
    )
    with TestClient(create_app(settings, models=shared_host)) as client:
        ready = client.get("/ready")
    assert ready.status_code == 503, ready.text
    body = ready.json()
    assert body["status"] == "unavailable"
    assert [reason.split(":")[0] for reason in body["reasons"]] == ["blob_store"]


def test_a_stopping_replica_is_503(client: TestClient) -> None:
    client.app.state.stopping = True  # what api.server sets on SIGTERM
    try:
        ready = client.get("/ready")
    finally:
        client.app.state.stopping = False
    assert ready.status_code == 503
    assert ready.json()["status"] == "stopping"
