"""Video tasks in the domain: checks before queueing, progress, cancellation, re-runs, release."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from sam3_service.domain import jobs, keys, kinds, video
from sam3_service.domain.models import ModelHost
from sam3_service.domain.params import SegmentParams
from sam3_service.domain.services import Limits, Services
from sam3_service.errors import InvalidInput, TaskCancelled, TooLarge
from sam3_service.inference import Thresholds, VideoSession
from sam3_service.media import VideoInfo
from sam3_service.runtime import open_services
from sam3_service.tasks.base import TaskKind, TaskStatus
from tests.helpers import make_settings, png_bytes
from tests.video_helpers import check_jsonl_frames, decode_frames, make_mp4, read_jsonl

INFO = VideoInfo("video/mp4", "h264", 160, 120, 12.0, 24, 2.0)
TEXT = SegmentParams(prompt="person", score_threshold=0.2)
CLICK = SegmentParams(points=[[40, 60]])


@pytest.fixture
async def services(
    tiny_model_dir: Path, tmp_path: Path, shared_host: ModelHost
) -> AsyncIterator[Services]:
    settings = make_settings(tiny_model_dir, tmp_path)
    async with open_services(settings, models=shared_host) as opened:
        yield opened


@pytest.fixture
def sessions(shared_host: ModelHost, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every video session the engine opens during the test."""
    engine = shared_host.engine()
    opened: list[Any] = []
    open_video = engine.open_video

    def recording(*args: Any, **kwargs: Any) -> VideoSession:
        opened.append(open_video(*args, **kwargs))
        return opened[-1]

    monkeypatch.setattr(engine, "open_video", recording)
    return opened


async def submit(services: Services, data: bytes, params: SegmentParams, **options: Any) -> str:
    record = await jobs.submit(
        services,
        params=params,
        data=data,
        enqueue=False,
        video_options=video.VideoOptions(**options) if options else None,
    )
    return record.id


@pytest.mark.parametrize(
    ("params", "options", "words"),
    [
        (SegmentParams(prompt="cat", boxes=[[1, 1, 9, 9]]), {}, "text alone"),
        (SegmentParams(prompt="cat"), {"prompt_frame": 2}, "prompt_frame is for points"),
        (CLICK, {"prompt_frame": 3, "frame_stride": 2}, "multiple of the stride"),
        (CLICK, {"prompt_frame": 24}, "past the 24 frames"),
        (CLICK, {"prompt_frame": 10, "max_frames": 5}, "past the 5 frames"),
        (SegmentParams(points=[[161, 10]]), {}, "outside"),
        (SegmentParams(boxes=[[1, 1, 9, 9], [20, 20, 30, 30]], mode="interactive"), {}, "one"),
        (SegmentParams(prompt="cat", mask_format=["rle", "png"]), {}, "RLE masks only"),
    ],
)
def test_video_prompts_are_checked_against_the_video(
    params: SegmentParams, options: dict[str, Any], words: str
) -> None:
    with pytest.raises(InvalidInput, match=words):
        video.video_prompt(params, video.VideoOptions(**options), INFO, Limits())


def test_a_click_prompt_lands_on_its_processed_frame() -> None:
    options = video.VideoOptions(prompt_frame=6, frame_stride=3)

    prompt = video.video_prompt(CLICK, options, INFO, Limits())

    assert prompt.frame == 2 and prompt.points[0].x == 40 and prompt.text is None


async def test_nothing_is_stored_or_queued_for_a_refused_video(services: Services) -> None:
    with pytest.raises(InvalidInput):
        await submit(services, make_mp4(4), SegmentParams(prompt="cat"), prompt_frame=1)
    with pytest.raises(InvalidInput, match="videos only"):
        await jobs.submit(
            services,
            params=TEXT,
            data=png_bytes(),
            video_options=video.VideoOptions(),
        )
    services.limits = replace(services.limits, max_video_bytes=1000)
    with pytest.raises(TooLarge, match="1000"):
        await submit(services, make_mp4(12), TEXT)
    assert await services.store.list() == []
    assert await services.queue.depth() == 0


async def test_progress_rises_to_the_end_and_the_files_are_stored(
    services: Services, sessions: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    task_id = await submit(services, make_mp4(12, 96, 72), TEXT)
    written: list[float] = []
    update = services.store.update

    async def recording(task_id: str, **fields: Any) -> Any:
        if "progress" in fields:
            written.append(fields["progress"])
        return await update(task_id, **fields)

    monkeypatch.setattr(services.store, "update", recording)
    await jobs.run(services, task_id)

    record = await services.store.get(task_id)
    assert record.status is TaskStatus.SUCCEEDED, record.error
    assert written == [0.4167, 0.8333, 0.99, 1.0]  # every 5 frames, then done
    assert kinds.handler(TaskKind.VIDEO).frames(record) == {"done": 12, "total": 12}
    summary = json.loads(await services.blobs.get(str(record.result_key)))
    assert summary["frames_processed"] == 12 and "links" not in summary  # the API adds them
    lines = read_jsonl(await services.blobs.get(keys.task_file_key(task_id, "result.jsonl")))
    assert [line["frame"] for line in lines] == list(range(12))
    check_jsonl_frames(lines, width=96, height=72)
    assert (
        len(decode_frames(await services.blobs.get(keys.task_file_key(task_id, "overlay.mp4"))))
        == 12
    )
    assert len(sessions) == 1 and sessions[0]._state is None  # released


async def test_a_cancelled_task_stops_within_a_few_frames(
    services: Services, sessions: list[Any]
) -> None:
    task_id = await submit(services, make_mp4(60, 64, 48), TEXT)
    run = asyncio.create_task(jobs.run(services, task_id))
    while (await services.store.get(task_id)).progress == 0:
        await asyncio.sleep(0.01)

    await jobs.cancel(services, task_id)
    frames_at_cancel = sessions[0]._pushed
    await run

    record = await services.store.get(task_id)
    assert record.status is TaskStatus.CANCELLED and record.result_key is None
    assert sessions[0]._pushed - frames_at_cancel <= 5 < 60 - frames_at_cancel
    assert sessions[0]._state is None
    assert not await services.blobs.exists(keys.task_file_key(task_id, "result.jsonl"))


async def test_a_rerun_after_a_crash_midway_starts_over_and_finishes_cleanly(
    services: Services, sessions: list[Any]
) -> None:
    clicks = SegmentParams(points=[[20, 20]])
    task_id = await submit(services, make_mp4(24, 64, 48), clicks)
    await services.blobs.put(
        keys.task_file_key(task_id, "result.jsonl"), b"stale", "application/x-ndjson"
    )
    crashed = asyncio.create_task(jobs.run(services, task_id))
    while (await services.store.get(task_id)).progress < 0.3:
        await asyncio.sleep(0.01)
    crashed.cancel()  # the worker dies mid-video: its task stays `running`
    with pytest.raises(asyncio.CancelledError):
        await crashed
    assert (await services.store.get(task_id)).status is TaskStatus.RUNNING

    await jobs.run(services, task_id)  # the queue delivers it again

    record = await services.store.get(task_id)
    assert record.status is TaskStatus.SUCCEEDED and record.attempts == 2
    lines = read_jsonl(await services.blobs.get(keys.task_file_key(task_id, "result.jsonl")))
    assert [line["frame"] for line in lines] == list(range(24))
    check_jsonl_frames(lines, width=64, height=48)
    assert (
        len(decode_frames(await services.blobs.get(keys.task_file_key(task_id, "overlay.mp4"))))
        == 24
    )
    assert [session._state for session in sessions] == [None, None]


async def test_a_failing_task_releases_its_session(
    shared_host: ModelHost, sessions: list[Any], tmp_path: Path
) -> None:
    async def stop(done: int, total: int) -> None:
        if done == 3:
            raise TaskCancelled("stop")

    with pytest.raises(TaskCancelled):
        await video.track_video(
            shared_host,
            make_mp4(8, 64, 48),
            TEXT,
            video.VideoOptions(),
            limits=Limits(),
            defaults=Thresholds(),
            jsonl=tmp_path / "r.jsonl",
            overlay=tmp_path / "o.mp4",
            on_progress=stop,
        )

    assert sessions[0]._pushed == 3 and sessions[0]._state is None
