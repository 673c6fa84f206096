"""The asynchronous path: submit, poll, download, cancel."""

from __future__ import annotations

import io
import time

import numpy as np
from fastapi.testclient import TestClient
from PIL import Image

from tests.helpers import png_bytes


def submit(client: TestClient, image: bytes, **fields: str):
    return client.post("/v1/tasks", files={"file": ("x.png", image, "image/png")}, data=fields)


def poll(client: TestClient, url: str, timeout_s: float = 60) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        body = client.get(url).json()
        if body["status"] in ("succeeded", "failed", "cancelled"):
            return body
        time.sleep(0.05)
    raise AssertionError(f"task did not finish: {body}")


def test_submit_poll_and_download(client: TestClient) -> None:
    response = submit(client, png_bytes(330, 220), prompt="cat", score_threshold="0")
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert response.headers["location"] == f"/v1/tasks/{accepted['task_id']}"
    assert accepted["status"] in ("queued", "running", "succeeded")
    body = poll(client, response.headers["location"])
    assert body["status"] == "succeeded", body
    assert body["progress"] == 1.0
    assert body["model_version"] == body["result"]["model"]["version"]
    assert body["timings_ms"]["encode_image"] >= 0
    assert body["result"]["image"]["width"] == 330
    assert body["started_at"] and body["finished_at"]

    alias = client.get(f"/result/{accepted['task_id']}").json()
    assert alias["result"] == body["result"]

    result_json = client.get(body["links"]["result_json"])
    downloaded = result_json.json()
    assert downloaded.pop("task_id") == accepted["task_id"]
    assert downloaded.pop("links") == {k: v for k, v in body["links"].items() if v}
    assert downloaded == body["result"]
    assert f"{accepted['task_id']}-result.json" in result_json.headers["content-disposition"]

    masks = Image.open(io.BytesIO(client.get(body["links"]["masks_png"]).content))
    assert masks.size == (330, 220) and masks.mode == "RGBA"
    coloured = np.array(masks)[..., 3] > 0
    assert int(coloured.sum()) > 0 or not body["result"]["objects"]

    overlay = client.get(body["links"]["overlay_png"])
    assert overlay.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(overlay.content)).size == (330, 220)


def test_failed_validation_queues_nothing(client: TestClient) -> None:
    before = len(client.get("/v1/tasks?limit=500").json()["tasks"])
    assert submit(client, png_bytes(), prompt="狗").status_code == 422
    assert len(client.get("/v1/tasks?limit=500").json()["tasks"]) == before


def test_client_task_id_is_idempotent(client: TestClient) -> None:
    first = submit(client, png_bytes(120, 90), prompt="cat", task_id="my-task-0001").json()
    again = submit(client, png_bytes(120, 90), prompt="cat", task_id="my-task-0001").json()
    assert first["task_id"] == again["task_id"] == "my-task-0001"
    assert poll(client, "/v1/tasks/my-task-0001")["status"] == "succeeded"


def test_cancel_a_queued_task(client: TestClient) -> None:
    ids = [
        submit(client, png_bytes(400 + i, 300), prompt="cat").json()["task_id"] for i in range(6)
    ]
    last = ids[-1]
    cancelled = client.delete(f"/v1/tasks/{last}")
    assert cancelled.status_code in (200, 409), cancelled.text
    final = poll(client, f"/v1/tasks/{last}")
    if cancelled.status_code == 200:
        assert final["status"] == "cancelled"
        assert client.get(f"/v1/tasks/{last}/result.json").status_code == 409
        again = client.delete(f"/v1/tasks/{last}")  # as the README says: 409 once finished
        assert again.status_code == 409 and "already cancelled" in again.json()["error"]["message"]
    for task_id in ids[:-1]:
        poll(client, f"/v1/tasks/{task_id}")


def test_cancel_a_finished_task_is_a_conflict(client: TestClient) -> None:
    task_id = submit(client, png_bytes(), points="[[10, 10]]").json()["task_id"]
    poll(client, f"/v1/tasks/{task_id}")
    response = client.delete(f"/v1/tasks/{task_id}")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"


def test_unknown_task(client: TestClient) -> None:
    for path in ("/v1/tasks/nope", "/result/nope", "/v1/tasks/nope/masks.png"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    assert client.delete("/v1/tasks/nope").status_code == 404


def test_list_tasks_newest_first(client: TestClient) -> None:
    tasks = client.get("/v1/tasks?limit=5").json()["tasks"]
    created = [t["created_at"] for t in tasks]
    assert created == sorted(created, reverse=True)


def test_the_input_can_be_downloaded_again(client: TestClient) -> None:
    image = png_bytes(123, 77)
    task_id = submit(client, image, points="[[10, 10]]").json()["task_id"]
    response = client.get(f"/v1/tasks/{task_id}/input")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.content == image
