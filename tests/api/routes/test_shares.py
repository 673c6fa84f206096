"""Share links: a shared task opens read-only, and its files download under the token."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.video_helpers import make_mp4, read_jsonl


def finished(client: TestClient, response: Any, timeout_s: float = 60) -> dict[str, Any]:
    """Wait for a submitted task to succeed; returns its view."""
    assert response.status_code == 202, response.text
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        task = client.get(response.headers["location"]).json()
        if task["status"] not in ("queued", "running"):
            assert task["status"] == "succeeded", task["error"]
            return dict(task)
        time.sleep(0.02)
    raise AssertionError("the task did not end")


def share(client: TestClient, task_id: str) -> dict[str, Any]:
    response = client.post(f"/v1/tasks/{task_id}/share")
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.fixture(scope="module")
def video_task(client: TestClient) -> dict[str, Any]:
    files = {"file": ("clip.mp4", make_mp4(8, 64, 48, fps=8), "video/mp4")}
    data = {"prompt": "shape", "score_threshold": "0.2", "frame_stride": "2"}
    return finished(client, client.post("/v1/tasks", files=files, data=data))


def test_a_shared_video_links_its_frames_and_overlay_under_the_token(
    client: TestClient, video_task: dict[str, Any]
) -> None:
    link = share(client, video_task["task_id"])
    shared = client.get(link["api_url"]).json()
    base = f"/v1/shared/{link['token']}"
    assert shared["links"] == {
        "task": base,
        "result_json": f"{base}/result.json",
        "masks_png": None,
        "overlay_png": None,
        "result_jsonl": f"{base}/result.jsonl",
        "overlay_mp4": f"{base}/overlay.mp4",
    }
    assert shared["frames"] == {"done": 4, "total": 4}
    assert shared["result"]["tracks"] == video_task["result"]["tracks"]


@pytest.mark.parametrize(
    ("name", "media_type"),
    [("result.jsonl", "application/x-ndjson"), ("overlay.mp4", "video/mp4")],
)
def test_a_shared_video_file_is_the_tasks_own(
    client: TestClient, video_task: dict[str, Any], name: str, media_type: str
) -> None:
    link = share(client, video_task["task_id"])
    shared = client.get(f"/v1/shared/{link['token']}/{name}")
    assert shared.status_code == 200
    assert shared.headers["content-type"] == media_type
    assert f'filename="{video_task["task_id"]}-{name}"' in shared.headers["content-disposition"]
    assert shared.content == client.get(f"/v1/tasks/{video_task['task_id']}/{name}").content
    if name == "result.jsonl":
        assert [line["frame"] for line in read_jsonl(shared.content)] == [0, 2, 4, 6]


def test_a_forged_token_opens_no_video_file(client: TestClient, video_task: dict[str, Any]) -> None:
    token = share(client, video_task["task_id"])["token"]
    response = client.get(f"/v1/shared/{token[:-3]}xyz/overlay.mp4")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


def test_a_shared_image_keeps_its_picture_links(client: TestClient, image_png: bytes) -> None:
    files = {"file": ("shapes.png", image_png, "image/png")}
    task = finished(client, client.post("/v1/tasks", files=files, data={"prompt": "shape"}))
    token = share(client, task["task_id"])["token"]
    links = client.get(f"/v1/shared/{token}").json()["links"]
    assert links["masks_png"] == f"/v1/shared/{token}/masks.png"
    assert links["result_jsonl"] is None and links["overlay_mp4"] is None
    assert client.get(f"/v1/shared/{token}/result.jsonl").status_code == 409
