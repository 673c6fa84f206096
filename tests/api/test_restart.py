"""Nothing stored is lost: tasks an earlier process left unfinished run after a restart."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sam3_service.api.app import create_app
from sam3_service.domain import keys, submission
from sam3_service.domain.models import ModelHost
from sam3_service.domain.params import SegmentParams
from sam3_service.inference.base import Engine
from sam3_service.media import decode_image
from sam3_service.storage import open_blob_store
from sam3_service.tasks import TaskRecord, TaskStatus, open_task_store
from sam3_service.tasks.base import TaskKind
from tests.helpers import make_settings, png_bytes, wait_ready
from tests.video_helpers import make_mp4


async def leave_unfinished_tasks(settings) -> list[str]:
    """What a process killed mid-way leaves behind: stored inputs, one queued, one running."""
    store = await open_task_store(settings.resolved_database_url)
    blobs = open_blob_store(settings.resolved_storage_url)
    data = png_bytes(200, 150)
    decoded = decode_image(data)
    await blobs.put(keys.image_key(decoded.sha256), data, "image/png")
    ids = []
    for status in (TaskStatus.QUEUED, TaskStatus.RUNNING):
        record = TaskRecord(
            id=submission.new_task_id(),
            kind=TaskKind.IMAGE,
            input_key=keys.image_key(decoded.sha256),
            params=SegmentParams(points=[[50, 60]]).model_dump(mode="json"),
            status=status,
        )
        await store.create(record)
        ids.append(record.id)
    await store.aclose()
    await blobs.aclose()
    return ids


def test_unfinished_tasks_run_after_a_restart(
    tmp_path: Path, tiny_model_dir: Path, shared_host: ModelHost
) -> None:
    settings = make_settings(tiny_model_dir, tmp_path)
    ids = asyncio.run(leave_unfinished_tasks(settings))
    with TestClient(create_app(settings, models=shared_host)) as client:
        wait_ready(client)
        for task_id in ids:
            for _ in range(200):
                body = client.get(f"/v1/tasks/{task_id}").json()
                if body["status"] == "succeeded":
                    break
                time.sleep(0.05)
            assert body["status"] == "succeeded", body
            assert len(body["result"]["objects"]) == 1


@pytest.mark.slow
def test_a_video_task_stopped_mid_way_runs_again_once_the_model_loads(
    tmp_path: Path, tiny_model_dir: Path, shared_host: ModelHost
) -> None:
    """Stop the embedded service during a video, start it again with a model that takes its
    time to load: the task waits for the model, then runs from frame 0 to the end."""
    settings = make_settings(tiny_model_dir, tmp_path)
    files = {"file": ("clip.mp4", make_mp4(60, 96, 72), "video/mp4")}
    with TestClient(create_app(settings, models=shared_host)) as client:
        wait_ready(client)
        location = client.post("/v1/tasks", files=files, data={"points": "[[20, 36]]"}).headers[
            "Location"
        ]
        deadline = time.monotonic() + 60
        while client.get(location).json()["frames"]["done"] < 2:
            assert time.monotonic() < deadline, client.get(location).json()
            time.sleep(0.02)
    gate = threading.Event()

    def load_when_let() -> Engine:
        gate.wait(60)
        return shared_host.engine()

    host = ModelHost("slow", load_when_let)
    host.start()
    with TestClient(create_app(settings, models=host)) as client:
        assert client.get(location).json()["status"] == "queued"  # queued again, waiting
        time.sleep(0.5)
        assert client.get(location).json()["status"] == "queued"
        gate.set()
        deadline = time.monotonic() + 120
        while (body := client.get(location).json())["status"] in ("queued", "running"):
            assert time.monotonic() < deadline, body
            time.sleep(0.05)
    assert body["status"] == "succeeded", body
    assert body["frames"] == {"done": 60, "total": 60}
    assert body["result"]["frames_processed"] == 60
