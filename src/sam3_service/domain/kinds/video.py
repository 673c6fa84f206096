"""Video tasks: check an upload before anything is queued, then track through it frame by frame.

As results come, each frame becomes a line of JSON (`result.jsonl`) and a frame of the overlay
MP4, both in a temporary folder. Only when the last frame is done are `result.jsonl`,
`overlay.mp4` and then the summary (`result.json`) stored under the task's keys: a task run
again (after a crash, or redelivered by its queue) starts from frame 0 and overwrites them, and
a succeeded task never links to a partial file.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any

from ...errors import Conflict, InvalidInput, Sam3Error, TaskCancelled, TooLarge
from ...inference.base import Thresholds
from ...media import probe_video
from ...tasks.base import TaskKind, TaskRecord, TaskStatus, TaskStore
from .. import keys
from ..services import Services
from ..video import VideoOptions, VideoTaskParams, frames_total, track_video, video_prompt
from .base import Outcome, TaskRequest, record_fields

_REPORT_EVERY = 5  # frames between progress writes; each one also notices a cancellation


class VideoKind:
    """The handler of video tasks (see `KindHandler`)."""

    kind: TaskKind = TaskKind.VIDEO
    files: dict[str, str] = {"result.jsonl": "application/x-ndjson", "overlay.mp4": "video/mp4"}
    links_in_result: bool = True
    sync_refusal: str | None = (
        "videos are segmented as tasks: POST the video to /v1/tasks, then poll "
        "GET /v1/tasks/{task_id} (its progress counts frames) for the result"
    )

    async def intake(self, services: Services, request: TaskRequest, task_id: str) -> TaskRecord:
        """Check a video upload and its prompt, and store the video. Raises TooLarge,
        UnsupportedMedia or InvalidInput before anything is stored or queued."""
        if request.image_id is not None or request.mask_data is not None:
            raise InvalidInput("a video task takes the video file alone: no image_id, no mask")
        data, limits = request.data or b"", services.limits
        options = request.video_options or VideoOptions()
        if len(data) > limits.max_video_bytes:
            raise TooLarge(
                f"the video has {len(data)} bytes, more than the limit of {limits.max_video_bytes}"
            )
        info = await asyncio.to_thread(probe_video, data, limits.video)
        video_prompt(request.params, options, info, limits)
        sha256 = hashlib.sha256(data).hexdigest()
        key = keys.video_key(sha256)
        if not await services.blobs.exists(key):
            await services.blobs.put(key, data, info.media_type)
        params = VideoTaskParams(
            prompt=request.params,
            options=options,
            video=info,
            sha256=sha256,
            frames_total=frames_total(info, options),
        )
        return TaskRecord(
            id=task_id,
            kind=self.kind,
            input_key=key,
            params=params.model_dump(mode="json"),
            owner=request.owner,
        )

    async def prepare(
        self, services: Services, record: TaskRecord, request: TaskRequest, *, defer_store: bool
    ) -> None:
        return None  # the intake checked and stored the video

    def identity(self, record: TaskRecord, defaults: Thresholds) -> dict[str, Any]:
        params = VideoTaskParams.model_validate(record.params)
        return {
            **params.prompt.cache_identity(defaults),
            **params.options.model_dump(),
            "video": params.sha256,
        }

    async def cached_result(self, services: Services, record: TaskRecord) -> None:
        return None  # a video's files are stored under its own task id

    async def execute(self, services: Services, record: TaskRecord, prepared: None) -> Outcome:
        key, summary = await run_task(services, record)
        return Outcome(key, record_fields(summary))

    def frames(self, record: TaskRecord) -> dict[str, int]:
        total = int(record.params["frames_total"])
        done = total if record.status is TaskStatus.SUCCEEDED else round(record.progress * total)
        return {"done": done, "total": total}

    async def file(self, services: Services, record: TaskRecord, name: str) -> bytes:
        """`result.jsonl`: a JSON line per frame; `overlay.mp4`: the video with coloured masks
        and object ids (H.264)."""
        if record.status is not TaskStatus.SUCCEEDED:
            raise Conflict(f"task {record.id} is {record.status.value}; it has no {name} yet")
        data: bytes = await services.blobs.get(keys.task_file_key(record.id, name))
        return data


async def run_task(services: Services, record: TaskRecord) -> tuple[str, dict[str, Any]]:
    """Track through a stored video task from frame 0 and store its files; returns the key of
    its summary and the summary. Raises TaskCancelled within a few frames of a cancellation."""
    if services.models is None:
        raise Sam3Error("this process has no model to run tasks with")
    params = VideoTaskParams.model_validate(record.params)
    data = await services.blobs.get(record.input_key)
    progress = _StoreProgress(services.store, record.id)
    with tempfile.TemporaryDirectory(prefix="sam3-video-") as folder:
        paths = {name: Path(folder) / name for name in VideoKind.files}
        summary = await track_video(
            services.models.host(record.model_version),
            data,
            params.prompt,
            params.options,
            limits=services.limits,
            defaults=services.thresholds,
            jsonl=paths["result.jsonl"],
            overlay=paths["overlay.mp4"],
            on_progress=progress,
        )
        for name, media_type in VideoKind.files.items():
            content = await asyncio.to_thread(paths[name].read_bytes)
            await services.blobs.put(keys.task_file_key(record.id, name), content, media_type)
    key = keys.result_key(record.id)
    await services.blobs.put(key, json.dumps(summary).encode(), "application/json")
    return key, summary


class _StoreProgress:
    """Writes a task's progress every few frames; there a cancelled task stops."""

    def __init__(self, store: TaskStore, task_id: str, *, every: int = _REPORT_EVERY) -> None:
        self._store, self._task_id, self._every = store, task_id, every

    async def __call__(self, done: int, total: int) -> None:
        if done % self._every and done < total:
            return
        progress = round(min(done / total, 0.99), 4)
        updated = await self._store.update(
            self._task_id, expect={TaskStatus.RUNNING}, progress=progress
        )
        if updated is None:
            raise TaskCancelled(f"task {self._task_id} was cancelled at frame {done} of {total}")
