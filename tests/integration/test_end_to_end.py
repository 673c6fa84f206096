"""A task goes API -> RabbitMQ -> a `sam3-service worker` -> PostgreSQL + S3 -> API."""

from __future__ import annotations

import time

import boto3
import pytest
from fastapi.testclient import TestClient

from sam3_service.api.app import create_app
from tests.integration.stack import Stack, picture
from tests.servers import S3_BUCKET

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.amqp,
    pytest.mark.s3,
    pytest.mark.slow,
]


def wait_finished(api: TestClient, task_id: str, timeout_s: float = 30) -> dict[str, object]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        body: dict[str, object] = api.get(f"/v1/tasks/{task_id}").json()
        if body["status"] in ("succeeded", "failed", "cancelled"):
            return body
        time.sleep(0.05)
    raise AssertionError(f"task {task_id} did not finish: {body}")


def test_ready_follows_the_workers_state(stack: Stack, api: TestClient) -> None:
    stack.live_workers(2)
    body = api.get("/ready").json()
    assert body["status"] == "ready", body
    assert body["model"]["random"] is True
    assert body["checks"] == {
        "task_store": "ok",
        "blob_store": "ok",
        "task_queue": "ok",
        "cache": "ok",
    }


def test_a_task_goes_through_the_queue_to_a_worker_and_back(stack: Stack, api: TestClient) -> None:
    stack.live_workers(2)
    response = api.post(
        "/v1/segment",
        files={"file": ("a.png", picture(1), "image/png")},
        data={"prompt": "cat"},
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["model"]["random"] is True
    reported = {report.model["version"] for report in stack.reports() if report.model}
    assert result["model"]["version"] in reported

    accepted = api.post(
        "/v1/tasks",
        files={"file": ("b.png", picture(2), "image/png")},
        data={"prompt": "dog"},
    )
    assert accepted.status_code == 202
    task = wait_finished(api, accepted.json()["task_id"])
    assert task["status"] == "succeeded"
    downloaded = api.get(f"/v1/tasks/{task['task_id']}/result.json")
    assert downloaded.status_code == 200
    assert downloaded.json()["prompt"]["prompt"] == "dog"

    rows = stack.rows([result["task_id"], str(task["task_id"])])
    s3 = boto3.client("s3", endpoint_url=stack.fields["s3_endpoint_url"])
    prefix = stack.fields["storage_url"].removeprefix(f"s3://{S3_BUCKET}/")
    for row in rows.values():
        assert (row["status"], row["attempts"]) == ("succeeded", 1)
        s3.head_object(Bucket=S3_BUCKET, Key=f"{prefix}/{row['result_key']}")
    s3.close()


def test_a_sync_request_that_waits_too_long_answers_504_with_the_task_id(stack: Stack) -> None:
    settings = stack.settings(broker_queue="sam3.nobody-consumes", sync_timeout_s=0.5)
    with TestClient(create_app(settings)) as api:
        response = api.post(
            "/v1/segment",
            files={"file": ("c.png", picture(3), "image/png")},
            data={"prompt": "cat"},
        )
        assert response.status_code == 504
        error = response.json()["error"]
        assert error["code"] == "timed_out"
        assert api.get(f"/v1/tasks/{error['task_id']}").json()["status"] == "queued"
