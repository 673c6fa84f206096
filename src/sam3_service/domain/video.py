"""Video tasks: check an upload before anything is queued, then track through it frame by frame.

Frames are decoded one at a time and each is one call on the model's inference thread, so image
requests are served between the frames of a video. As results come, each frame becomes a line
of JSON (`result.jsonl`) and a frame of the overlay MP4, both in a temporary folder. Only when
the last frame is done are `result.jsonl`, `overlay.mp4` and then the summary (`result.json`)
stored under the task's keys: a task run again (after a crash, or redelivered by its queue)
starts from frame 0 and overwrites them, and a succeeded task never links to a partial file.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import tempfile
import time
from collections import deque
from collections.abc import Awaitable, Callable, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel, ConfigDict, Field

from ..errors import InvalidInput, Sam3Error, TaskCancelled, TooLarge
from ..inference.base import (
    Engine,
    PromptMode,
    Thresholds,
    TrackedFrame,
    TrackingSpec,
    VideoPrompt,
    VideoSession,
)
from ..media import (
    Mp4Writer,
    VideoFrame,
    VideoInfo,
    encode_rle,
    is_video,
    iter_frames,
    mask_area,
    overlay_frame,
    planned_frames,
    probe_video,
)
from ..storage.base import BlobStore
from ..tasks.base import TaskRecord, TaskStatus, TaskStore
from .models import ModelHost
from .params import MaskFormat, SegmentParams, build_prompt
from .results import RANDOM_MODEL_NOTICE
from .segment import result_key
from .services import Limits, Services

__all__ = [
    "VIDEO_KIND",
    "VideoOptions",
    "VideoTaskParams",
    "frame_progress",
    "identity",
    "is_video",
    "jsonl_key",
    "links",
    "new_record",
    "overlay_key",
    "run_task",
    "track_video",
    "video_prompt",
]

VIDEO_KIND = "video"
VIDEO_PREFIX = "videos/"
_REPORT_EVERY = 5  # frames between progress writes; each one also notices a cancellation

ProgressHook = Callable[[int, int], Awaitable[None]]


class VideoOptions(BaseModel):
    """How much of a video to process, and where clicks were made."""

    model_config = ConfigDict(extra="forbid")

    frame_stride: int = Field(
        default=1, ge=1, le=1000, description="Process every n-th frame (1: all)."
    )
    max_frames: int | None = Field(
        default=None, ge=1, description="Process at most this many frames."
    )
    prompt_frame: int = Field(
        default=0,
        ge=0,
        description="The video frame (from 0) that `points` or a box were drawn on.",
    )


class VideoTaskParams(BaseModel):
    """What a video task stores: the request, and what the upload was found to be."""

    model_config = ConfigDict(extra="forbid")

    prompt: SegmentParams
    options: VideoOptions
    video: VideoInfo
    sha256: str
    frames_total: int  # frames the task will process


def jsonl_key(task_id: str) -> str:
    return f"results/{task_id}/result.jsonl"


def overlay_key(task_id: str) -> str:
    return f"results/{task_id}/overlay.mp4"


def links(task_id: str) -> dict[str, str]:
    """Where a video task's files are served."""
    base = f"/v1/tasks/{task_id}"
    return {
        "task": base,
        "result_json": f"{base}/result.json",
        "result_jsonl": f"{base}/result.jsonl",
        "overlay_mp4": f"{base}/overlay.mp4",
    }


async def new_record(
    services: Services,
    *,
    params: SegmentParams,
    options: VideoOptions,
    data: bytes,
    owner: str,
    task_id: str,
) -> TaskRecord:
    """Check a video upload and its prompt, store the video, and return the task to create.

    Raises TooLarge, UnsupportedMedia or InvalidInput before anything is stored or queued.
    """
    limits = services.limits
    if len(data) > limits.max_video_bytes:
        raise TooLarge(
            f"the video has {len(data)} bytes, more than the limit of {limits.max_video_bytes}"
        )
    info = await asyncio.to_thread(probe_video, data, limits.video)
    video_prompt(params, options, info, limits)
    sha256 = hashlib.sha256(data).hexdigest()
    key = VIDEO_PREFIX + sha256
    if not await services.blobs.exists(key):
        await services.blobs.put(key, data, info.media_type)
    task_params = VideoTaskParams(
        prompt=params,
        options=options,
        video=info,
        sha256=sha256,
        frames_total=_frames_total(info, options),
    )
    return TaskRecord(
        id=task_id,
        kind=VIDEO_KIND,
        input_key=key,
        params=task_params.model_dump(mode="json"),
        owner=owner,
    )


def video_prompt(
    params: SegmentParams, options: VideoOptions, info: VideoInfo, limits: Limits
) -> VideoPrompt:
    """The tracking prompt of a request, checked against the video. Raises InvalidInput."""
    if MaskFormat.RLE not in params.mask_format or len(set(params.mask_format)) > 1:
        raise InvalidInput("video results carry COCO RLE masks only: leave mask_format as rle")
    prompt = build_prompt(
        params,
        width=info.width,
        height=info.height,
        max_boxes=limits.max_boxes,
        max_points=limits.max_points,
    )
    if prompt.resolved_mode() is PromptMode.CONCEPT:
        if prompt.text is None or prompt.boxes:
            raise InvalidInput(
                "in a video, a concept is named by text alone; to follow one object, mark it "
                "with points or one box (and prompt_frame)"
            )
        if options.prompt_frame:
            raise InvalidInput("prompt_frame is for points and boxes; text applies to all frames")
        return VideoPrompt(text=prompt.text)
    if (
        prompt.text is not None
        or len(prompt.boxes) > 1
        or not all(b.positive for b in prompt.boxes)
    ):
        raise InvalidInput("to follow one object, give points and/or one positive box, no text")
    return VideoPrompt(
        points=prompt.points,
        box=prompt.boxes[0] if prompt.boxes else None,
        frame=_processed_index(options, _frames_total(info, options)),
    )


def identity(record: TaskRecord, defaults: Thresholds) -> dict[str, Any]:
    """Everything that changes a video task's result, for de-duplication keys."""
    params = VideoTaskParams.model_validate(record.params)
    return {
        **params.prompt.cache_identity(defaults),
        **params.options.model_dump(),
        "video": params.sha256,
    }


def frame_progress(record: TaskRecord) -> dict[str, int] | None:
    """A video task's frames done and to do (None for other tasks)."""
    if record.kind != VIDEO_KIND:
        return None
    total = int(record.params["frames_total"])
    done = total if record.status is TaskStatus.SUCCEEDED else round(record.progress * total)
    return {"done": done, "total": total}


async def run_task(services: Services, record: TaskRecord) -> tuple[str, dict[str, Any]]:
    """Track through a stored video task from frame 0 and store its files; returns the key of
    its summary and the summary. Raises TaskCancelled within a few frames of a cancellation."""
    if services.models is None:
        raise Sam3Error("this process has no model to run tasks with")
    params = VideoTaskParams.model_validate(record.params)
    data = await services.blobs.get(record.input_key)
    progress = _StoreProgress(services.store, record.id)
    with tempfile.TemporaryDirectory(prefix="sam3-video-") as folder:
        jsonl, overlay = Path(folder) / "result.jsonl", Path(folder) / "overlay.mp4"
        summary = await track_video(
            services.models,
            data,
            params.prompt,
            params.options,
            limits=services.limits,
            defaults=services.thresholds,
            jsonl=jsonl,
            overlay=overlay,
            on_progress=progress,
        )
        await _store_file(services.blobs, jsonl_key(record.id), jsonl, "application/x-ndjson")
        await _store_file(services.blobs, overlay_key(record.id), overlay, "video/mp4")
    summary["links"] = links(record.id)
    key = result_key(record.id)
    await services.blobs.put(key, json.dumps(summary).encode(), "application/json")
    return key, summary


async def track_video(
    models: ModelHost,
    data: bytes,
    params: SegmentParams,
    options: VideoOptions,
    *,
    limits: Limits,
    defaults: Thresholds,
    jsonl: Path,
    overlay: Path,
    on_progress: ProgressHook,
) -> dict[str, Any]:
    """Track `params` through a video, writing `jsonl` (a line per frame) and `overlay` (MP4).

    `on_progress(done, total)` is awaited after every frame; what it raises stops the work.
    Returns the summary: the video, the tracks (first and last frame, mean score), timings.
    """
    started = time.perf_counter()
    info = await asyncio.to_thread(probe_video, data, limits.video)
    prompt = video_prompt(params, options, info, limits)
    total = _frames_total(info, options)
    thresholds = params.thresholds(defaults)
    session = await models.run(_opening(prompt, info, thresholds, limits.max_video_objects))
    timer = _Timer()
    # One thread decodes and writes: the PyAV containers stay on it, and frame buffers are
    # recycled by one allocator arena instead of one per thread of the event loop's pool.
    media = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sam3-video-media")
    try:
        frames = iter_frames(
            data, limits.video, stride=options.frame_stride, max_frames=options.max_frames
        )
        fps = info.fps / options.frame_stride
        with (
            closing(frames),
            jsonl.open("w") as lines,
            Mp4Writer(overlay, width=info.width, height=info.height, fps=fps) as writer,
        ):
            output = _Output(lines, writer, media)
            try:
                done = await _track_frames(
                    models, session, frames, output, timer, on_progress, total
                )
                with timer("track"):
                    ready = await models.run(lambda _engine: session.finish())
                with timer("write"):
                    await output.write(ready)
            finally:
                # A cancelled task may leave a decode or a write running on the media thread:
                # let it end before the decoder and the writer are closed under it.
                await _drain(media)
    finally:
        await models.run(lambda _engine: session.close())
        media.shutdown(wait=False)
    elapsed_s = time.perf_counter() - started
    return _summary(models, info, params, options, data, output, done, timer, elapsed_s)


async def _drain(executor: ThreadPoolExecutor) -> None:
    """Wait until the one-thread `executor` has finished what it was given before."""
    await asyncio.shield(asyncio.get_running_loop().run_in_executor(executor, lambda: None))


async def _track_frames(
    models: ModelHost,
    session: VideoSession,
    frames: Generator[VideoFrame],
    output: _Output,
    timer: _Timer,
    on_progress: ProgressHook,
    total: int,
) -> int:
    """Decode, track and write frame after frame; returns how many frames were tracked."""
    done = 0
    while True:
        with timer("decode"):
            frame = await output.decode(frames)
        if frame is None:
            return done
        with timer("track"):
            ready = await models.run(_pushing(session, frame))
        with timer("write"):
            await output.write(ready)
        done += 1
        await on_progress(done, max(total, done))


def _opening(
    prompt: VideoPrompt, info: VideoInfo, thresholds: Thresholds, max_objects: int
) -> Callable[[Engine], VideoSession]:
    spec = TrackingSpec(prompt, info.width, info.height, thresholds, max_objects)
    return lambda engine: engine.open_video(spec)


def _pushing(session: VideoSession, frame: VideoFrame) -> Callable[[Engine], list[TrackedFrame]]:
    return lambda _engine: session.push(frame.image)


class _Output:
    """Decodes frames, and writes results as they become final: a JSON line and an overlay
    frame per frame, on the media thread.

    Results may come some frames after their frame was decoded; the decoded frames wait in
    `pending` until then (the session says how many at most: its `delay`).
    """

    def __init__(self, lines: IO[str], writer: Mp4Writer, media: ThreadPoolExecutor) -> None:
        self.pending: deque[VideoFrame] = deque()
        self.tracks: dict[int, _Track] = {}
        self._lines = lines
        self._writer = writer
        self._media = media

    async def decode(self, frames: Generator[VideoFrame]) -> VideoFrame | None:
        """The next frame, or None after the last."""
        loop = asyncio.get_running_loop()
        frame = await loop.run_in_executor(self._media, next, frames, None)
        if frame is not None:
            self.pending.append(frame)
        return frame

    async def write(self, ready: list[TrackedFrame]) -> None:
        """Write the results that became final."""
        await asyncio.get_running_loop().run_in_executor(self._media, self._write, ready)

    def _write(self, ready: list[TrackedFrame]) -> None:
        for tracked in ready:
            frame = self.pending.popleft()
            objects = tracked.objects
            line = {
                "frame": frame.index,
                "time_s": round(frame.time_s, 4),
                "objects": [
                    {
                        "id": obj.id,
                        "score": obj.score,
                        "bbox": [round(value, 2) for value in obj.box],
                        "area": mask_area(obj.mask),
                        "rle": encode_rle(obj.mask),
                    }
                    for obj in objects
                ],
            }
            self._lines.write(json.dumps(line, separators=(",", ":")) + "\n")
            self._writer.write(
                overlay_frame(
                    frame.image,
                    [obj.mask for obj in objects],
                    labels=[f"{obj.id} {obj.score:.2f}" for obj in objects],
                    colour_ids=[obj.id for obj in objects],
                )
            )
            for obj in objects:
                self.tracks.setdefault(obj.id, _Track(obj.id, frame.index)).add(
                    frame.index, obj.score
                )


@dataclass
class _Track:
    id: int
    first_frame: int
    last_frame: int = 0
    frames: int = 0
    score_sum: float = 0.0

    def add(self, frame: int, score: float) -> None:
        self.last_frame, self.frames, self.score_sum = (
            frame,
            self.frames + 1,
            self.score_sum + score,
        )

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "first_frame": self.first_frame,
            "last_frame": self.last_frame,
            "frames": self.frames,
            "mean_score": round(self.score_sum / self.frames, 5),
        }


class _Timer:
    """Milliseconds spent per stage."""

    def __init__(self) -> None:
        self.ms = {"decode": 0.0, "track": 0.0, "write": 0.0}

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.ms[stage] += (time.perf_counter() - started) * 1000


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


def _summary(
    models: ModelHost,
    info: VideoInfo,
    params: SegmentParams,
    options: VideoOptions,
    data: bytes,
    output: _Output,
    done: int,
    timer: _Timer,
    elapsed_s: float,
) -> dict[str, Any]:
    model = models.engine().info
    summary: dict[str, Any] = {
        "kind": VIDEO_KIND,
        "video": {**asdict(info), "sha256": hashlib.sha256(data).hexdigest()},
        "prompt": {
            **params.model_dump(mode="json", exclude={"mask_key"}, exclude_none=True),
            **options.model_dump(exclude_none=True),
        },
        "model": {"name": model.name, "version": model.version, "random": model.random},
        "frames_processed": done,
        "tracks": [track.summary() for _, track in sorted(output.tracks.items())],
        "frames_per_second": round(done / elapsed_s, 3) if elapsed_s > 0 else None,
        "timings_ms": {stage: round(ms, 1) for stage, ms in timer.ms.items()}
        | {"total": round(elapsed_s * 1000, 1)},
    }
    if model.random:
        summary["warning"] = RANDOM_MODEL_NOTICE
    return summary


def _frames_total(info: VideoInfo, options: VideoOptions) -> int:
    return planned_frames(info, stride=options.frame_stride, max_frames=options.max_frames)


def _processed_index(options: VideoOptions, total: int) -> int:
    """Which processed frame `prompt_frame` is. Raises InvalidInput if it is skipped."""
    if options.prompt_frame % options.frame_stride:
        raise InvalidInput(
            f"prompt_frame {options.prompt_frame} is skipped by frame_stride "
            f"{options.frame_stride}: use a multiple of the stride"
        )
    index = options.prompt_frame // options.frame_stride
    if index >= total:
        raise InvalidInput(
            f"prompt_frame {options.prompt_frame} is past the {total} frames to process"
        )
    return index


async def _store_file(blobs: BlobStore, key: str, path: Path, content_type: str) -> None:
    await blobs.put(key, await asyncio.to_thread(path.read_bytes), content_type)
