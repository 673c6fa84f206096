"""Tracking a prompt through a video frame by frame, on the model's inference thread.

Frames are decoded one at a time and each is one call on the model's inference thread, so image
requests are served between the frames of a video. Results are written as they come (see
`output`); the caller chooses where.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable, Generator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ...inference.base import (
    Engine,
    Thresholds,
    TrackedFrame,
    TrackingSpec,
    VideoPrompt,
    VideoSession,
)
from ...media import Mp4Writer, VideoFrame, VideoInfo, iter_frames, probe_video
from ...tasks.base import TaskKind
from ...timing import StageTimer
from ..models import ModelHost
from ..params import SegmentParams
from ..results import RANDOM_MODEL_NOTICE
from ..services import Limits
from .options import VideoOptions, frames_total, video_prompt
from .output import FrameOutput

ProgressHook = Callable[[int, int], Awaitable[None]]


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
    total = frames_total(info, options)
    thresholds = params.thresholds(defaults)
    session = await models.run(_opening(prompt, info, thresholds, limits.max_video_objects))
    timer = StageTimer(("decode", "track", "write"))
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
            output = FrameOutput(lines, writer, media)
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
    output: FrameOutput,
    timer: StageTimer,
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


def _summary(
    models: ModelHost,
    info: VideoInfo,
    params: SegmentParams,
    options: VideoOptions,
    data: bytes,
    output: FrameOutput,
    done: int,
    timer: StageTimer,
    elapsed_s: float,
) -> dict[str, Any]:
    model = models.engine().info
    summary: dict[str, Any] = {
        "kind": TaskKind.VIDEO.value,
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
