"""The shadow's cost to the caller: the latency of a request's answer with and without a shadow
copy of it, measured side by side in one process.

A request is answered by the stable version (the random SAM 3 of seed 0, on a new image each
time, text prompt "cat"). With shadow traffic, the answer path then offers a copy to a
`ShadowRunner`, which runs the shadow version (seed 1) in the background and compares the
results; the caller's latency ends when its answer is ready, as in the service. A third mode
shows what waiting for the shadow would cost instead. Each round runs the modes in turn, in a
rotating order, `--requests` sequential requests each, `--gap-ms` apart, and lets the shadow
runs end before the next mode, so that noise and the shadows' leftover work hit all alike.

The caller never waits for the shadow (`offer` takes microseconds), but both models share
the device: a shadow run still under way when the next request comes slows that answer. That
is part of the cost measured; it depends on the load (`--gap-ms`, `--shadow-percent`). Goal,
with room between requests: p50 with shadow / without at most 1.10.

    .venv/bin/python benchmarks/shadow_cost.py [--rounds 12] [--gap-ms 20] [--shadow-percent 100]
        [--size tiny] [--device auto]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from sam3_service.domain.models import ModelHost
from sam3_service.domain.params import SegmentParams
from sam3_service.domain.segment import segment_decoded
from sam3_service.domain.services import Limits
from sam3_service.domain.shadow import ShadowRunner
from sam3_service.inference import Thresholds, build_tiny_model, load_engine
from sam3_service.media import decode_image

PARAMS = SegmentParams(prompt="cat", score_threshold=0.0)  # every query: objects to compare
MODES = ("without", "with", "waiting")

Answer = Callable[[bytes], Awaitable[dict[str, Any]]]


def random_png(seed: int, size: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (size * 3 // 4, size, 3), np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def load_host(folder: Path, work: Path, device: str) -> ModelHost:
    host = ModelHost(folder.name, lambda: load_engine(str(folder), models_dir=work, device=device))
    host.load_blocking()
    return host


async def segment(host: ModelHost, data: bytes) -> dict[str, Any]:
    decoded = decode_image(data)
    return await host.run(
        lambda engine: segment_decoded(
            engine, decoded, PARAMS, limits=Limits(), defaults=Thresholds()
        )
    )


class Caller:
    """The answer path of each mode, and the time `offer` took in it."""

    def __init__(
        self, stable: ModelHost, shadow: ModelHost, runner: ShadowRunner, percent: float
    ) -> None:
        self.stable, self.shadow, self.runner = stable, shadow, runner
        self.percent = percent
        self.requests = 0  # of the "with" mode: `percent` of them, evenly spaced, get a copy
        self.offer_s: list[float] = []

    async def without(self, data: bytes) -> dict[str, Any]:
        return await segment(self.stable, data)

    async def with_shadow(self, data: bytes) -> dict[str, Any]:
        result = await segment(self.stable, data)
        self.requests += 1
        if self.requests * self.percent // 100 == (self.requests - 1) * self.percent // 100:
            return result
        started = time.perf_counter()
        self.runner.offer("stable", "shadow", result, lambda: segment(self.shadow, data))
        self.offer_s.append(time.perf_counter() - started)
        return result

    async def waiting(self, data: bytes) -> dict[str, Any]:
        result = await segment(self.stable, data)
        await segment(self.shadow, data)
        return result


async def timed(answer: Answer, images: list[bytes], gap_s: float) -> list[float]:
    """Each request's latency, sequential, `gap_s` apart."""
    latencies = []
    for data in images:
        started = time.perf_counter()
        await answer(data)
        latencies.append(time.perf_counter() - started)
        await asyncio.sleep(gap_s)
    return latencies


async def measure(caller: Caller, args: argparse.Namespace) -> dict[str, list[float]]:
    answers: dict[str, Answer] = {
        "without": caller.without,
        "with": caller.with_shadow,
        "waiting": caller.waiting,
    }
    await timed(caller.waiting, [random_png(900_000, args.image)], 0)  # warm both models
    latencies: dict[str, list[float]] = {mode: [] for mode in MODES}
    seed = 0
    for round_ in range(args.rounds):
        for mode in MODES[round_ % 3 :] + MODES[: round_ % 3]:
            images = [random_png(seed + i, args.image) for i in range(args.requests)]
            seed += args.requests
            latencies[mode] += await timed(answers[mode], images, args.gap_ms / 1000)
            await caller.runner.wait_idle()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--requests", type=int, default=5, help="Requests per mode and round.")
    parser.add_argument("--gap-ms", type=float, default=20.0, help="Pause between requests.")
    parser.add_argument(
        "--shadow-percent", type=float, default=100.0, help="Requests copied to the shadow."
    )
    parser.add_argument("--size", default="tiny", choices=["tiny", "mid"])
    parser.add_argument("--image", type=int, default=320, help="Image width in pixels.")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="sam3-shadow-bench-"))
    stable = load_host(build_tiny_model(work / "seed-0", size=args.size), work, args.device)
    shadow = load_host(build_tiny_model(work / "seed-1", size=args.size, seed=1), work, args.device)
    runner = ShadowRunner(max_in_flight=2)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    info = stable.engine().info
    print(
        f"model={args.size} device={info.device}/{info.dtype} threads={torch.get_num_threads()} "
        f"commit={commit} rounds={args.rounds} requests={args.requests}/mode/round "
        f"gap={args.gap_ms:g}ms image={args.image}px shadow={args.shadow_percent:g}%"
    )
    caller = Caller(stable, shadow, runner, args.shadow_percent)
    latencies = asyncio.run(measure(caller, args))
    p50 = {mode: statistics.median(times) * 1000 for mode, times in latencies.items()}
    for mode in MODES:
        print(f"caller p50 {mode:<8} shadow {p50[mode]:8.1f} ms  ({len(latencies[mode])} requests)")
    print(f"offer() p50 {statistics.median(caller.offer_s) * 1e6:8.1f} us  (the caller's share)")
    figures = runner.agreement()["shadow"]
    print(
        f"shadow runs compared={figures['runs']} dropped={figures['dropped']} "
        f"failed={figures['failed']} mean agreement={figures['agreement']:.3f}"
    )
    print(f"RATIO with/without     {p50['with'] / p50['without']:.3f}   (goal <= 1.10)")
    print(f"RATIO waiting/without  {p50['waiting'] / p50['without']:.3f}   (had the caller waited)")
    stable.close()
    shadow.close()


if __name__ == "__main__":
    main()
