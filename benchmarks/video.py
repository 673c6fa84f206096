"""Video: frames per second and peak memory on a 30 s 720p clip, and memory over 20 tasks.

Both run the service's own code on the tiny random SAM 3 (or `--size mid`), on the CPU:

- `clip`: one 30 s, 30 fps, 1280x720 H.264 clip of moving shapes through `track_video` (decode,
  track, RLE, JSON Lines, overlay MP4), in a fresh process so that its peak RSS is its own.
- `tasks`: 20 video tasks, one after another, through `jobs.run` in one worker process (the task
  store, blob store and model of the embedded backends), reading RSS after each task.

Usage:

    .venv/bin/python benchmarks/video.py [--size tiny] [--seconds 30] [--tasks 20]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import io
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import av
import numpy as np
import torch

from sam3_service.domain import jobs, video
from sam3_service.domain.params import SegmentParams
from sam3_service.inference import Thresholds, build_tiny_model
from sam3_service.runtime import limits, model_host, open_services
from sam3_service.settings import Settings

PROMPT = SegmentParams(prompt="person", score_threshold=0.2)  # the random model finds some


def rss_mib() -> float:
    """This process's resident set size now, in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_clip(seconds: float, width: int, height: int, fps: int = 30) -> bytes:
    """An H.264 MP4 of two shapes crossing a gradient."""
    rows, columns = np.mgrid[0:height, 0:width]
    background = np.zeros((height, width, 3), np.uint8)
    background[..., 0] = columns * 255 // (width - 1)
    background[..., 1:] = (90, 160)
    count = round(seconds * fps)
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as output:
        stream: Any = output.add_stream("libx264", rate=fps, options={"preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for index in range(count):
            frame = background.copy()
            cx, cy, radius = width * (0.1 + 0.8 * index / count), height // 2, height // 6
            frame[(columns - cx) ** 2 + (rows - cy) ** 2 <= radius**2] = (230, 200, 40)
            top = int(height * (0.1 + 0.6 * index / count))
            frame[top : top + height // 4, width // 2 : width // 2 + height // 4] = (20, 160, 60)
            output.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        output.mux(stream.encode(None))
    return buffer.getvalue()


def settings_for(model: Path, data_dir: Path, device: str) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        model=str(model),
        data_dir=data_dir,
        device=device,
    )


def run_clip(model: Path, seconds: float, device: str) -> dict[str, Any]:
    """Track through one 720p clip in this process; frames/s and peak RSS."""
    torch.set_num_threads(2)
    data = make_clip(seconds, 1280, 720)
    with tempfile.TemporaryDirectory() as folder:
        settings = settings_for(model, Path(folder), device)
        host = model_host(settings, str(model))
        host.load_blocking()
        gc.collect()
        loaded = rss_mib()

        async def nothing(done: int, total: int) -> None:
            return None

        started = time.perf_counter()
        summary = asyncio.run(
            video.track_video(
                host,
                data,
                PROMPT,
                video.VideoOptions(),
                limits=limits(settings),
                defaults=Thresholds(settings.score_threshold, settings.mask_threshold),
                jsonl=Path(folder) / "r.jsonl",
                overlay=Path(folder) / "o.mp4",
                on_progress=nothing,
            )
        )
        elapsed = time.perf_counter() - started
        lines_mib = (Path(folder) / "r.jsonl").stat().st_size / 2**20
        overlay_mib = (Path(folder) / "o.mp4").stat().st_size / 2**20
        host.close()
    frames = summary["frames_processed"]
    return {
        "video": f"{seconds:g} s, 1280x720, 30 fps, {len(data) / 2**20:.1f} MiB H.264",
        "frames": frames,
        "tracks": len(summary["tracks"]),
        "frames_per_s": round(frames / elapsed, 2),
        "ms_per_frame": {k: round(v / frames, 1) for k, v in summary["timings_ms"].items()},
        "rss_model_loaded_mib": round(loaded, 1),
        "peak_rss_mib": round(peak_rss_mib(), 1),
        "result_jsonl_mib": round(lines_mib, 2),
        "overlay_mp4_mib": round(overlay_mib, 2),
    }


def run_tasks(model: Path, count: int, device: str) -> dict[str, Any]:
    """`count` video tasks in one worker; RSS after each."""
    torch.set_num_threads(2)
    clip = make_clip(2, 320, 240)
    with tempfile.TemporaryDirectory() as folder:
        settings = settings_for(model, Path(folder), device)
        host = model_host(settings, str(model))
        host.load_blocking()
        after = asyncio.run(_tasks(settings, host, clip, count))
        host.close()
    return {
        "tasks": count,
        "video": "2 s, 320x240, 30 fps (60 frames each)",
        "rss_after_each_task_mib": [round(value, 1) for value in after],
        "last_over_first": round(after[-1] / after[0], 3),
        "max_over_first": round(max(after) / after[0], 3),
    }


async def _tasks(settings: Settings, host: Any, clip: bytes, count: int) -> list[float]:
    after = []
    async with open_services(settings, models=host) as services:
        for _ in range(count):
            record = await jobs.submit(services, params=PROMPT, data=clip, enqueue=False)
            await jobs.run(services, record.id)
            status = (await services.store.get(record.id)).status.value
            if status != "succeeded":
                raise RuntimeError(f"task {record.id} {status}")
            gc.collect()
            after.append(rss_mib())
    return after


def in_fresh_process(case: str, args: argparse.Namespace, model: Path) -> dict[str, Any]:
    command = [sys.executable, __file__, "--case", case, "--model", str(model)]
    command += ["--seconds", str(args.seconds), "--tasks", str(args.tasks)]
    command += ["--device", args.device]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", default="tiny", choices=["tiny", "mid", "full"])
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--models-dir", type=Path, default=Path("var/models"))
    parser.add_argument("--case", choices=["clip", "tasks"], help=argparse.SUPPRESS)
    parser.add_argument("--model", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case == "clip":
        print(json.dumps(run_clip(args.model, args.seconds, args.device)))
        return
    if args.case == "tasks":
        print(json.dumps(run_tasks(args.model, args.tasks, args.device)))
        return
    model = build_tiny_model(args.models_dir / f"random-{args.size}", size=args.size)
    report = {
        "model": f"random SAM 3, size {args.size}, device {args.device}",
        "clip": in_fresh_process("clip", args, model),
        "tasks": in_fresh_process("tasks", args, model),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
