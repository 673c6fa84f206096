"""Nothing stored is lost: tasks an earlier process left unfinished run after a restart."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from fastapi.testclient import TestClient

from sam3_service.api.app import create_app
from sam3_service.domain import jobs, segment
from sam3_service.domain.models import ModelHost
from sam3_service.domain.params import SegmentParams
from sam3_service.media import decode_image
from sam3_service.storage import open_blob_store
from sam3_service.tasks import TaskRecord, TaskStatus, open_task_store
from tests.helpers import make_settings, png_bytes, wait_ready


async def leave_unfinished_tasks(settings) -> list[str]:
    """What a process killed mid-way leaves behind: stored inputs, one queued, one running."""
    store = await open_task_store(settings.resolved_database_url)
    blobs = open_blob_store(settings.resolved_storage_url)
    data = png_bytes(200, 150)
    decoded = decode_image(data)
    await blobs.put(segment.image_key(decoded.sha256), data, "image/png")
    ids = []
    for status in (TaskStatus.QUEUED, TaskStatus.RUNNING):
        record = TaskRecord(
            id=jobs.new_task_id(),
            kind=jobs.IMAGE_KIND,
            input_key=segment.image_key(decoded.sha256),
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
