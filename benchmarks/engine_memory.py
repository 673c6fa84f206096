"""Resident memory of the shared-weight engine against the SAM 3 classes loaded one by one.

Each case runs in a fresh Python process, so that none inherits another's memory. RSS is read
from /proc/self/status after the imports (the baseline), then after loading and reading every
weight once: the library maps safetensors lazily, so untouched weights are not resident yet.
Usage:

    .venv/bin/python benchmarks/engine_memory.py [--size mid] [--models-dir var/models]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import transformers
from PIL import Image

from sam3_service.inference import Prompt, Sam3Engine, Thresholds, build_tiny_model, load_engine

CASES = ("engine", "Sam3Model", "Sam3TrackerModel", "Sam3VideoModel", "all three classes")


def rss_mib() -> float:
    """This process's resident set size, in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def unique_parameters(*models: torch.nn.Module) -> int:
    """Parameters counted once per storage, however many modules share them."""
    sizes = {p.untyped_storage().data_ptr(): p.numel() for m in models for p in m.parameters()}
    return sum(sizes.values())


def resident_mib(baseline: float, *models: torch.nn.Module) -> float:
    """RSS added since `baseline` once every weight of `models` has been read."""
    with torch.inference_mode():
        for model in models:
            for tensor in [*model.parameters(), *model.buffers()]:
                tensor.sum()
    return rss_mib() - baseline


def measure(case: str, folder: Path) -> dict[str, object]:
    """Load one case in this process; report the memory it added and its parameters."""
    torch.set_num_threads(2)
    baseline = rss_mib()
    if case == "engine":
        engine = load_engine(str(folder), models_dir=folder.parent, device="cpu")
        weights = resident_mib(baseline, engine.weights.video)
        timings = prompt_timings(engine)
        return {
            "rss_mib": weights,
            "params_m": unique_parameters(engine.weights.video) / 1e6,
            "rss_after_2_prompts_mib": rss_mib() - baseline,
            **timings,
        }
    names = ["Sam3Model", "Sam3TrackerModel", "Sam3VideoModel"] if case == CASES[-1] else [case]
    models = [getattr(transformers, name).from_pretrained(folder) for name in names]
    params = unique_parameters(*models) / 1e6
    return {"rss_mib": resident_mib(baseline, *models), "params_m": params}


def prompt_timings(engine: Sam3Engine) -> dict[str, float]:
    """Milliseconds of a first text prompt on a 640x480 picture, then of a second one."""
    pixels = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    image = Image.fromarray(pixels)
    sha = hashlib.sha256(image.tobytes()).hexdigest()
    timings = {}
    for label, text in (("first_prompt_ms", "cat"), ("second_prompt_ms", "dog")):
        start = time.perf_counter()
        engine.segment(image, sha, Prompt(text=text), Thresholds())
        timings[label] = (time.perf_counter() - start) * 1000
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="mid", choices=["tiny", "mid", "full"])
    parser.add_argument("--models-dir", type=Path, default=Path("var/models"))
    parser.add_argument("--case", choices=CASES, help=argparse.SUPPRESS)  # a child process
    args = parser.parse_args()
    folder = args.models_dir / f"{args.size}-random"
    if args.case:
        print(json.dumps(measure(args.case, folder)))
        return
    build_tiny_model(folder, size=args.size)
    print(f"{args.size} random SAM 3 in {folder}, CPU, float32; RSS added by loading it:")
    for case in CASES:
        command = [sys.executable, __file__, "--case", case, "--models-dir", str(args.models_dir)]
        command += ["--size", args.size]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        result = json.loads(output.splitlines()[-1])
        extra = ", ".join(f"{k} {v:.0f}" for k, v in list(result.items())[2:])
        line = f"  {case:<18} {result['rss_mib']:8.1f} MiB  {result['params_m']:8.2f} M params"
        print(f"{line}  {extra}".rstrip())


if __name__ == "__main__":
    main()
