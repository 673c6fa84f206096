"""Full-size SAM 3: time from process start to `/ready`, and the cached-prompt ratio.

Builds the library's default SAM 3 configuration (840 M parameters, random weights) once as
safetensors on local disk, then:
1. starts `sam3-service serve` in a fresh process and times it until `GET /ready` answers 200
   (goal: at most 15 s; the design this project grows from quotes about 3 minutes);
2. for comparison, times a bare `from_pretrained` of the same folder in a fresh process;
3. with --ratio, loads the engine here and times a first and a second text prompt on one
   1008 px image (the second reuses the cached image features).

    .venv/bin/python benchmarks/startup.py [--model-dir /tmp/sam3-full] [--ratio] [--device auto]
"""

from __future__ import annotations

import argparse
import io
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

BARE_LOAD = (
    "import sys; from transformers import Sam3VideoModel; "
    "Sam3VideoModel.from_pretrained(sys.argv[1])"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def time_to_ready(model_dir: Path, device: str, data_dir: Path) -> float:
    port = free_port()
    env = {
        **os.environ,
        "SAM3_MODEL": str(model_dir),
        "SAM3_PORT": str(port),
        "SAM3_DEVICE": device,
        "SAM3_DATA_DIR": str(data_dir),
        "SAM3_LOG_LEVEL": "WARNING",
    }
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "sam3_service", "serve"], env=env)
    try:
        while time.perf_counter() - started < 600:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                    return time.perf_counter() - started
            except httpx.TransportError:
                pass
            if process.poll() is not None:
                raise RuntimeError("the service exited before it was ready")
            time.sleep(0.1)
        raise RuntimeError("not ready after 600 s")
    finally:
        process.terminate()
        process.wait(timeout=30)


def cached_prompt_ratio(model_dir: Path, device: str) -> tuple[float, float]:
    from sam3_service.inference import Prompt, Thresholds, load_engine

    engine = load_engine(str(model_dir), models_dir=model_dir.parent, device=device)
    pixels = np.random.default_rng(0).integers(0, 255, (1008, 1008, 3), np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    image = Image.open(buffer).convert("RGB")
    engine.segment(image, "warm-up", Prompt(text="warm"), Thresholds())  # first-call overheads
    times = []
    for prompt in ("cat", "dog"):
        started = time.perf_counter()
        engine.segment(image, "ratio", Prompt(text=prompt), Thresholds())
        times.append(time.perf_counter() - started)
    engine.close()
    return times[0], times[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, default=Path("/tmp/sam3-full"))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--ratio", action="store_true", help="Also time cached prompts.")
    args = parser.parse_args()

    if not (args.model_dir / "config.json").exists():
        from sam3_service.inference import build_tiny_model

        started = time.perf_counter()
        build_tiny_model(args.model_dir, size="full")
        print(f"built the full-size random SAM 3 in {time.perf_counter() - started:.1f} s")
    size_gb = sum(f.stat().st_size for f in args.model_dir.iterdir()) / 1e9
    print(f"model folder {args.model_dir} ({size_gb:.2f} GB)")

    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", BARE_LOAD, str(args.model_dir)], check=True)
    bare = time.perf_counter() - started
    print(f"process start -> bare Sam3VideoModel.from_pretrained done: {bare:.1f} s")
    ready = time_to_ready(args.model_dir, args.device, args.model_dir.parent / "startup-data")
    print(f"process start -> /ready 200: {ready:.1f} s   (goal <= 15 s)")
    if args.ratio:
        first, second = cached_prompt_ratio(args.model_dir, args.device)
        print(
            f"1008 px image: first prompt {first * 1000:.0f} ms, second (cached) "
            f"{second * 1000:.0f} ms, RATIO {second / first:.3f}   (goal <= 0.25)"
        )


if __name__ == "__main__":
    main()
