"""Video through the API: submit an MP4, follow its frames, download the lines and the MP4."""

from __future__ import annotations

import base64
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sam3_service.domain.models import ModelHost
from tests.helpers import png_bytes
from tests.video_helpers import (
    audio_only_mp4,
    check_jsonl_frames,
    decode_frames,
    frameless_mkv,
    make_mp4,
    read_jsonl,
    video_codec,
)


def submit(client: TestClient, data: bytes, **fields: str) -> Any:
    files = {"file": ("clip.mp4", data, "video/mp4")}
    return client.post("/v1/tasks", files=files, data=fields)


def follow(client: TestClient, url: str, timeout_s: float = 60) -> tuple[dict, list[float]]:
    """Poll until the task ends; returns its last view and every progress seen."""
    seen: list[float] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        body = client.get(url, params={"include_result": "false"}).json()
        seen.append(body["progress"])
        if body["status"] in ("succeeded", "failed", "cancelled"):
            return client.get(url).json(), seen
        time.sleep(0.02)
    raise AssertionError(f"the task did not end: {body}")


def check_overlay(client: TestClient, url: str, *, frames: int, width: int, height: int) -> None:
    response = client.get(url)
    assert response.status_code == 200 and response.headers["content-type"] == "video/mp4"
    decoded = decode_frames(response.content)
    assert video_codec(response.content) == "h264"
    assert len(decoded) == frames and decoded[0].shape == (height, width, 3)


def test_a_text_prompt_tracks_through_the_video(client: TestClient) -> None:
    response = submit(client, make_mp4(16, 96, 72, fps=8), prompt="person", score_threshold="0.2")
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["kind"] == "video" and accepted["frames"] == {"done": 0, "total": 16}

    task, seen = follow(client, response.headers["location"])

    assert task["status"] == "succeeded", task["error"]
    assert seen == sorted(seen) and seen[-1] == task["progress"] == 1.0
    assert task["frames"] == {"done": 16, "total": 16}
    summary = task["result"]
    assert summary["video"]["width"] == 96 and summary["frames_processed"] == 16
    assert summary["links"]["result_jsonl"] == task["links"]["result_jsonl"]
    lines_response = client.get(task["links"]["result_jsonl"])
    assert lines_response.headers["content-type"] == "application/x-ndjson"
    lines = read_jsonl(lines_response.content)
    assert [line["frame"] for line in lines] == list(range(16))
    check_jsonl_frames(lines, width=96, height=72)
    tracks = {track["id"]: track for track in summary["tracks"]}
    for line in lines:
        for obj in line["objects"]:
            assert (
                tracks[obj["id"]]["first_frame"] <= line["frame"] <= tracks[obj["id"]]["last_frame"]
            )
    check_overlay(client, task["links"]["overlay_mp4"], frames=16, width=96, height=72)


def test_a_click_on_a_frame_tracks_that_object(client: TestClient) -> None:
    response = submit(
        client, make_mp4(16, 96, 72), points="[[30, 36]]", prompt_frame="4", frame_stride="2"
    )
    assert response.status_code == 202, response.text

    task, _ = follow(client, response.headers["location"])

    assert task["status"] == "succeeded", task["error"]
    lines = read_jsonl(client.get(task["links"]["result_jsonl"]).content)
    assert [line["frame"] for line in lines] == list(range(0, 16, 2))
    check_jsonl_frames(lines, width=96, height=72)
    assert not lines[0]["objects"] and not lines[1]["objects"]  # before the clicked frame
    assert {obj["id"] for line in lines for obj in line["objects"]} <= {1}
    assert task["result"]["prompt"]["prompt_frame"] == 4
    check_overlay(client, task["links"]["overlay_mp4"], frames=8, width=96, height=72)


def test_a_json_body_carries_a_video_and_its_options(client: TestClient) -> None:
    body = {"image": base64.b64encode(make_mp4(6, 64, 48)).decode(), "boxes": [[8, 8, 40, 40]]}
    response = client.post("/v1/tasks", json={**body, "max_frames": 3})
    assert response.status_code == 202, response.text

    task, _ = follow(client, response.headers["location"])

    assert task["status"] == "succeeded" and task["frames"] == {"done": 3, "total": 3}


@pytest.mark.parametrize(
    ("data", "fields", "status", "code"),
    [
        (make_mp4(32, 32, 32, fps=1), {"prompt": "cat"}, 413, "too_large"),
        (make_mp4(2, 1936, 64), {"prompt": "cat"}, 413, "too_large"),
        (make_mp4(8, 32, 32, fps=1000), {"prompt": "cat"}, 413, "too_large"),
        (audio_only_mp4(), {"prompt": "cat"}, 415, "unsupported_media"),
        (make_mp4(12)[:900], {"prompt": "cat"}, 415, "unsupported_media"),
        (make_mp4(4, codec="mpeg4"), {"prompt": "cat"}, 415, "unsupported_media"),
        (frameless_mkv(), {"prompt": "cat"}, 422, "invalid_input"),
        (make_mp4(4), {"prompt": "cat", "boxes": "[[1, 1, 9, 9]]"}, 422, "invalid_input"),
        (make_mp4(4), {"points": "[[5, 5]]", "prompt_frame": "9"}, 422, "invalid_input"),
        (make_mp4(4), {"prompt": "cat", "frame_stride": "0"}, 422, "invalid_input"),
        (png_bytes(), {"prompt": "cat", "max_frames": "3"}, 422, "invalid_input"),
    ],
    ids=[
        "too-long",
        "too-large",
        "too-many-frames-a-second",
        "no-video-stream",
        "corrupt",
        "codec",
        "zero-frames",
        "exemplar-boxes",
        "prompt-frame",
        "stride",
        "options-on-an-image",
    ],
)
def test_refused_videos_get_a_clear_4xx_and_queue_nothing(
    client: TestClient, data: bytes, fields: dict[str, str], status: int, code: str
) -> None:
    before = len(client.get("/v1/tasks?limit=500").json()["tasks"])

    response = submit(client, data, **fields)

    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert len(client.get("/v1/tasks?limit=500").json()["tasks"]) == before


def test_the_synchronous_route_sends_videos_to_tasks(client: TestClient) -> None:
    files = {"file": ("clip.mp4", make_mp4(2), "video/mp4")}
    response = client.post("/v1/segment", files=files, data={"prompt": "cat"})

    assert response.status_code == 415
    assert "/v1/tasks" in response.json()["error"]["message"]


def test_cancelling_a_running_video_stops_it_within_a_few_frames(
    client: TestClient, shared_host: ModelHost
) -> None:
    url = submit(client, make_mp4(200, 64, 48, fps=24), prompt="person").headers["location"]
    while client.get(url).json()["progress"] == 0:
        time.sleep(0.01)

    assert client.delete(url).json()["status"] == "cancelled"
    calls_at_cancel = shared_host.inferences
    time.sleep(0.5)

    assert shared_host.inferences - calls_at_cancel <= 8  # a few frames and the release
    task = client.get(url).json()
    assert task["status"] == "cancelled" and task["frames"]["done"] < 100
    assert client.get(f"{url}/overlay.mp4").status_code == 409


def test_image_and_video_downloads_do_not_mix(client: TestClient) -> None:
    video_url = submit(client, make_mp4(3, 64, 48), points="[[5, 5]]").headers["location"]
    image_file = {"file": ("x.png", png_bytes(), "image/png")}
    image = client.post("/v1/tasks", files=image_file, data={"prompt": "cat"})
    image_url = image.headers["location"]
    follow(client, video_url)
    follow(client, image_url)

    assert client.get(f"{video_url}/masks.png").status_code == 409
    assert client.get(f"{video_url}/overlay.png").status_code == 409
    assert client.get(f"{image_url}/result.jsonl").status_code == 409
    assert client.get(f"{image_url}/overlay.mp4").status_code == 409
    assert client.get(video_url).json()["links"]["masks_png"] is None
