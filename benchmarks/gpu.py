"""Every figure of issue #13's goal table, as one JSON object, in one run (`benchmarks/gpu.sh`).

On a GPU: the full-size random SAM 3 in bfloat16. On the CPU (`--size mid`): the same
measurements on the mid model, to test the script end to end. Figures, side by side:

- engine p50: a direct `Sam3Engine.segment`, text prompt, a new 1008 px image each time;
- HTTP sync p50 over engine p50: `POST /v1/segment` on uvicorn (loopback), new images;
- cached second prompt p50: another text prompt on an image whose features are cached;
- throughput (requests/s) over HTTP at 16 concurrent clients over that at 1, batching as set;
- start to `/ready` of `sam3-service serve`, twice: the second with compiled artefacts cached;
- video: frames/s of a 720p clip with at most 5 objects tracked, and where the time goes.

The cluster figures (the queue's wake-up, throughput of API + 2 workers) need RabbitMQ,
PostgreSQL and Redis: `benchmarks/queue_wait.py` measures them on the development machine.

    benchmarks/gpu.sh [--size full|mid] [--device auto] [--rounds 20] [--batch-window-ms 5]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from latency import serve  # noqa: E402
from startup import time_to_ready  # noqa: E402
from video import make_clip  # noqa: E402

from sam3_service.api.app import create_app  # noqa: E402
from sam3_service.domain import video  # noqa: E402
from sam3_service.domain.params import SegmentParams  # noqa: E402
from sam3_service.inference import Prompt, Thresholds, build_tiny_model  # noqa: E402
from sam3_service.runtime import limits, model_host  # noqa: E402
from sam3_service.settings import Settings  # noqa: E402

PROMPTS = ["cat", "dog", "car", "person", "bird", "tree"]
SIDE = 1008  # the real model's input size: inputs are resized to it anyway
VIDEO_OBJECTS = 5  # random weights would fill any cap; a real scene tracks a few


def png(seed: int, side: int = SIDE) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (side, side, 3), np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 1)


def timed(fn: Callable[..., object], *args: object) -> float:
    started = time.perf_counter()
    fn(*args)
    return time.perf_counter() - started


def settings_for(args: argparse.Namespace, model: Path, data_dir: Path) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        model=str(model),
        data_dir=data_dir,
        device=args.device,
        batch_window_ms=args.batch_window_ms,
        max_video_objects=VIDEO_OBJECTS,
        log_level="WARNING",
    )


def engine_figures(engine: Any, rounds: int) -> dict[str, float]:
    thresholds = Thresholds()
    images = [Image.open(io.BytesIO(png(1000 + i))).convert("RGB") for i in range(rounds + 1)]
    engine.segment(images[0], "warm-up", Prompt(text="warm"), thresholds)
    firsts, seconds = [], []
    for i, image in enumerate(images[1:]):
        key = f"engine-{i}"
        firsts.append(timed(engine.segment, image, key, Prompt(text="cat"), thresholds))
        prompt = Prompt(text=PROMPTS[1 + i % (len(PROMPTS) - 1)])
        seconds.append(timed(engine.segment, image, key, prompt, thresholds))
    return {"engine_p50_ms": ms(firsts), "cached_second_prompt_p50_ms": ms(seconds)}


def http_figures(url: str, rounds: int, clients: int) -> dict[str, float]:
    seeds = iter(range(10_000, 1_000_000))
    lock = threading.Lock()

    def request(client: httpx.Client) -> float:
        with lock:
            seed = next(seeds)
        data = png(seed)
        started = time.perf_counter()
        response = client.post(
            "/v1/segment",
            files={"file": ("x.png", data, "image/png")},
            data={"prompt": PROMPTS[seed % len(PROMPTS)]},
        )
        response.raise_for_status()
        return time.perf_counter() - started

    def throughput(count: int, per_client: int) -> float:
        with ThreadPoolExecutor(count) as pool:
            clients_ = [httpx.Client(base_url=url, timeout=600) for _ in range(count)]
            started = time.perf_counter()
            list(pool.map(lambda c: [request(c) for _ in range(per_client)], clients_))
            elapsed = time.perf_counter() - started
        return count * per_client / elapsed

    with httpx.Client(base_url=url, timeout=600) as client:
        request(client)  # warm-up
        sync = [request(client) for _ in range(rounds)]
    per_client = max(2, rounds // 4)
    throughput(clients, 1)  # warm-up: larger batches compile on first use
    one, many = throughput(1, per_client), throughput(clients, per_client)
    return {
        "http_sync_p50_ms": ms(sync),
        "throughput_1_client_rps": round(one, 2),
        f"throughput_{clients}_clients_rps": round(many, 2),
        f"throughput_{clients}_over_1": round(many / one, 2),
    }


def video_figures(host: Any, settings: Settings, seconds: float) -> dict[str, Any]:
    data = make_clip(seconds, 1280, 720)

    async def nothing(done: int, total: int) -> None:
        return None

    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        summary = asyncio.run(
            video.track_video(
                host,
                data,
                SegmentParams(prompt="person", score_threshold=0.2),
                video.VideoOptions(),
                limits=limits(settings),
                defaults=Thresholds(settings.score_threshold, settings.mask_threshold),
                jsonl=Path(folder) / "r.jsonl",
                overlay=Path(folder) / "o.mp4",
                on_progress=nothing,
            )
        )
        elapsed = time.perf_counter() - started
    frames = summary["frames_processed"]
    return {
        "video": f"{seconds:g} s, 1280x720, 30 fps, at most {VIDEO_OBJECTS} objects",
        "video_frames_per_s": round(frames / elapsed, 2),
        "video_ms_per_frame": {k: round(v / frames, 1) for k, v in summary["timings_ms"].items()},
        "video_tracks": len(summary["tracks"]),
    }


def startup_figures(args: argparse.Namespace, model: Path, work: Path) -> dict[str, float]:
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(work / "inductor")  # shared by both starts
    if args.batch_window_ms is not None:
        os.environ["SAM3_BATCH_WINDOW_MS"] = str(args.batch_window_ms)
    first = time_to_ready(model, args.device, work / "start-1")
    again = time_to_ready(model, args.device, work / "start-2")
    return {"start_to_ready_first_s": round(first, 1), "start_to_ready_cached_s": round(again, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="full", choices=["tiny", "mid", "full"])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--batch-window-ms", type=float, help="Default: the service's.")
    parser.add_argument("--video-seconds", type=float, default=2.0)
    parser.add_argument("--work", type=Path, help="Model and data folder (default: a new one).")
    args = parser.parse_args()

    started = time.perf_counter()
    work = args.work or Path(tempfile.mkdtemp(prefix="sam3-gpu-bench-"))
    model = build_tiny_model(work / args.size, size=args.size)
    settings = settings_for(args, model, work / "data")
    host = model_host(settings, str(model))
    engine = host.load_blocking()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    report: dict[str, Any] = {
        "size": args.size,
        "device": f"{engine.info.device}/{engine.info.dtype}",
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "commit": commit,
        "torch_threads": torch.get_num_threads(),
        "max_batch": engine.max_batch,
        "compiled": bool(getattr(engine, "_compiled", False)),
        "model_load_s": round(host.load_seconds or 0, 1),
    }

    def add(figures: dict[str, Any]) -> None:  # so far, on stderr: a timeout keeps them
        report.update(figures, elapsed_s=round(time.perf_counter() - started, 1))
        print(json.dumps(report), file=sys.stderr, flush=True)

    add(engine_figures(engine, args.rounds))
    server, url = serve(create_app(settings, models=host))
    add(http_figures(url, args.rounds, args.clients))
    server.should_exit = True
    add(
        {
            "http_over_engine": round(report["http_sync_p50_ms"] / report["engine_p50_ms"], 3),
            "vision_batches": engine.stats.vision_batches,
            "vision_encoder_runs": engine.stats.vision_encoder_runs,
        }
    )
    add(video_figures(host, settings, args.video_seconds))
    host.close()
    add(startup_figures(args, model, work))
    report["queue_figures"] = "CPU cluster only: benchmarks/queue_wait.py"
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
