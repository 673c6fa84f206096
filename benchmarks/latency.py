"""Latency ratios of the service, measured side by side in one run.

1. p50 of a synchronous HTTP request (`POST /v1/segment`, multipart upload, real uvicorn on
   loopback) over p50 of a direct engine call doing the same inference. Goal: at most 1.05.
2. p50 of a second prompt on an image whose features are cached over p50 of a first prompt.
   Goal: at most 0.25.
3. p50 of a repeat of an HTTP request already answered (same upload, same prompt: the result
   cache, looked up from the upload's bytes) over p50 of the first HTTP request. Goal: at most
   0.01.

Both on the "mid" random SAM 3, whose CPU forward takes about a second and whose image encoder
is most of it, as in the real model. Every request but the repeats uses a new image, so neither
the result cache nor the feature cache helps where it should not.

    .venv/bin/python benchmarks/latency.py [--rounds 15] [--size mid] [--device auto]
"""

from __future__ import annotations

import argparse
import io
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import torch
import uvicorn
from PIL import Image

from sam3_service.api.app import create_app
from sam3_service.domain.models import ModelHost
from sam3_service.inference import Prompt, Thresholds, build_tiny_model, load_engine
from sam3_service.settings import Settings

PROMPTS = ["cat", "dog", "car", "person", "bird", "tree"]


def random_png(seed: int, size: int = 640) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (size * 3 // 4, size, 3), np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def p50(samples: list[float]) -> float:
    return statistics.median(samples)


def serve(app: object) -> tuple[uvicorn.Server, str]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    return server, f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--size", default="mid", choices=["tiny", "mid", "full"])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--model-dir", type=Path, help="Reuse a model folder built before.")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="sam3-bench-"))
    model_dir = args.model_dir or build_tiny_model(work / args.size, size=args.size)
    engine = load_engine(str(model_dir), models_dir=work, device=args.device)
    info = engine.info
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "none"
    print(
        f"model={args.size} device={info.device}/{info.dtype} gpu={gpu} batch=1 "
        f"threads={torch.get_num_threads()} commit={commit} rounds={args.rounds}"
    )

    host = ModelHost(str(model_dir), lambda: engine)
    host.load_blocking()
    settings = Settings(
        _env_file=None,
        model=str(model_dir),
        data_dir=work / "data",  # type: ignore[call-arg]
        device=args.device,
        log_level="WARNING",
    )
    server, url = serve(create_app(settings, models=host))
    client = httpx.Client(base_url=url, timeout=600)
    thresholds = Thresholds(score=0.5, mask=0.5)

    def direct(seed: int, prompt: str) -> float:
        image = Image.open(io.BytesIO(random_png(seed))).convert("RGB")
        started = time.perf_counter()
        engine.segment(image, f"direct-{seed}", Prompt(text=prompt), thresholds)
        return time.perf_counter() - started

    def http(seed: int, prompt: str) -> float:
        data = random_png(seed)
        started = time.perf_counter()
        response = client.post(
            "/v1/segment", files={"file": ("x.png", data, "image/png")}, data={"prompt": prompt}
        )
        response.raise_for_status()
        return time.perf_counter() - started

    def first_and_second(seed: int) -> tuple[float, float]:
        image = Image.open(io.BytesIO(random_png(seed))).convert("RGB")
        key = f"cache-{seed}"
        times = []
        for prompt in ("cat", "dog"):
            started = time.perf_counter()
            engine.segment(image, key, Prompt(text=prompt), thresholds)
            times.append(time.perf_counter() - started)
        return times[0], times[1]

    direct(900_001, "warm-up")
    http(900_002, "warm-up")
    direct_times, http_times, repeats, firsts, seconds = [], [], [], [], []
    for i in range(args.rounds):  # interleaved, so that noise hits both sides alike
        direct_times.append(direct(2 * i, PROMPTS[i % len(PROMPTS)]))
        http_times.append(http(2 * i + 1, PROMPTS[i % len(PROMPTS)]))
        repeats.append(http(2 * i + 1, PROMPTS[i % len(PROMPTS)]))
        first, second = first_and_second(10_000 + i)
        firsts.append(first)
        seconds.append(second)

    print(f"direct engine call     p50 {p50(direct_times) * 1000:8.1f} ms")
    print(f"HTTP sync request      p50 {p50(http_times) * 1000:8.1f} ms")
    print(f"HTTP repeat, answered  p50 {p50(repeats) * 1000:8.1f} ms")
    print(f"first prompt           p50 {p50(firsts) * 1000:8.1f} ms")
    print(f"second prompt, cached  p50 {p50(seconds) * 1000:8.1f} ms")
    http_ratio = p50(http_times) / p50(direct_times)
    cache_ratio = p50(seconds) / p50(firsts)
    repeat_ratio = p50(repeats) / p50(http_times)
    print(f"RATIO http/direct      {http_ratio:.3f}   (goal <= 1.05)")
    print(f"RATIO cached/first     {cache_ratio:.3f}   (goal <= 0.25)")
    print(f"RATIO repeat/first     {repeat_ratio:.4f}  (goal <= 0.01)")
    server.should_exit = True
    host.close()
    sys.exit(0)


if __name__ == "__main__":
    main()
