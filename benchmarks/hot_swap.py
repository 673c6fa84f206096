"""A hot swap of the model under traffic: one `sam3-service serve` process (embedded mode, the
random SAM 3 of seed 0 as version A, CPU, one torch thread), `--clients` closed-loop clients
sending `POST /v1/segment` (a new small PNG each time, prompt "cat") for `--seconds`; at
`--swap-at` the model of seed 1 (version B) is registered and loaded beside A, promoted once
ready, then A is unloaded (drained, then freed), all through the admin routes.

Admin routes need an admin key, so the server runs with API keys on: the script makes one
admin key and one user key per client (its own owner, so routing is per owner) in the server's
SQLite database before it starts. Every request's start, latency, status and answering version
is recorded, and the server's RSS (/proc/<pid>/status VmRSS) every half second. The image
feature cache is off (every picture is new: it would only grow the RSS).

Prints the failures (goal: 0), p50/p95 latency and each version's share of answers before the
swap, during it (load asked .. unload done) and after, and the RSS before the load, at its peak
with both versions loaded, and after the unload; draws latency over time (`--plot`). The tiny
model's weights (20 MiB) hide in the RSS's noise: `--size mid` (113 MiB) shows the release.

    .venv/bin/python benchmarks/hot_swap.py [--clients 8] [--seconds 40] [--swap-at 10]
        [--size tiny] [--mmap-threshold 0] [--plot docs/hot_swap.png]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import math
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from sam3_service.auth import Scope
from sam3_service.inference import build_tiny_model
from sam3_service.runtime import open_keys
from sam3_service.settings import Settings

SERVICE = str(Path(sys.executable).parent / "sam3-service")
ADMIN = "/v1/admin/models"
PHASES = ("before", "during", "after")
MOMENTS = ("load asked", "ready", "promoted", "unloaded")
BOTH = "both loaded (peak)"


@dataclass
class Record:
    """What the run saw: requests (start s, latency s, status, version), RSS samples
    (time s, MiB), the swap's moments (s from the start) and its versions."""

    requests: list[tuple[float, float, str, str]] = field(default_factory=list)
    rss: list[tuple[float, float]] = field(default_factory=list)
    moments: dict[str, float] = field(default_factory=dict)
    rss_at: dict[str, float] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def random_png(rng: np.random.Generator, width: int) -> bytes:
    pixels = rng.integers(0, 255, (width * 3 // 4, width, 3), np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def make_keys(data_dir: Path, clients: int) -> tuple[str, list[str]]:
    """An admin key and one user key per client (owner `client-<i>`), without rate limits
    worth the name, in the database the server will use."""
    settings = Settings(_env_file=None, data_dir=data_dir)  # type: ignore[call-arg]
    async with open_keys(settings) as keys:
        admin = await keys.create(scope=Scope.ADMIN, owner="operator", rate_per_min=1_000_000)
        users = [
            await keys.create(scope=Scope.USER, owner=f"client-{i}", rate_per_min=1_000_000)
            for i in range(clients)
        ]
    return admin.secret, [user.secret for user in users]


def start_server(
    work: Path, model: Path, mmap_threshold: int
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    malloc = {"MALLOC_MMAP_THRESHOLD_": str(mmap_threshold)} if mmap_threshold else {}
    env = {
        **{name: value for name, value in os.environ.items() if not name.startswith("SAM3_")},
        **malloc,
        "HF_HUB_OFFLINE": "1",
        "SAM3_MODEL": str(model),
        "SAM3_DEVICE": "cpu",
        "SAM3_DATA_DIR": str(work / "data"),
        "SAM3_PORT": str(port),
        "SAM3_AUTH_ENABLED": "true",
        "SAM3_LINK_SECRET": secrets.token_hex(32),
        "SAM3_TORCH_THREADS": "1",
        "SAM3_VISION_CACHE_BYTES": "0",  # new pictures only: a cache would only grow the RSS
        "OMP_NUM_THREADS": "1",
    }
    log = (work / "serve.log").open("wb")
    server = subprocess.Popen([SERVICE, "serve"], env=env, cwd=work, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and server.poll() is None:
        try:
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                return server, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    server.kill()
    tail = (work / "serve.log").read_text(errors="replace")[-2000:]
    raise SystemExit(f"the server did not get ready:\n{tail}")


async def client(url: str, key: str, index: int, args: argparse.Namespace, run: Run) -> None:
    """Send requests one after the other until the run's end."""
    rng = np.random.default_rng(index)
    headers = {"Authorization": f"Bearer {key}", "X-Client-Id": f"client-{index}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as http:
        while run.now() < args.seconds:
            files = {"file": ("noise.png", random_png(rng, args.image), "image/png")}
            started = run.now()
            try:
                answer = await http.post("/v1/segment", files=files, data={"prompt": "cat"})
                status = str(answer.status_code)
                version = (
                    answer.json().get("model", {}).get("version", "") if status == "200" else ""
                )
            except httpx.HTTPError as exc:
                status, version = type(exc).__name__, ""
            run.record.requests.append((started, run.now() - started, status, version))


class Run:
    """The clock of one run, the server's pid, and what it records."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.origin = time.monotonic()
        self.record = Record()

    def now(self) -> float:
        return time.monotonic() - self.origin

    def mark(self, moment: str, rss_label: str | None = None) -> None:
        self.record.moments[moment] = self.now()
        if rss_label:
            self.record.rss_at[rss_label] = rss_mib(self.pid)

    async def sample_rss(self, until_s: float) -> None:
        while self.now() < until_s:
            self.record.rss.append((self.now(), rss_mib(self.pid)))
            await asyncio.sleep(0.5)


async def stable_version(http: httpx.AsyncClient) -> str:
    """The starting version, once promoted: /ready answers 200 as soon as the model loaded,
    its registration (a checksum of the weights) follows in the background."""
    for _ in range(300):
        stable = (await http.get(ADMIN)).raise_for_status().json()["routing"]["stable"]
        if stable:
            return str(stable)
        await asyncio.sleep(0.2)
    raise SystemExit("the starting version was not promoted within 60 s")


async def swap(http: httpx.AsyncClient, model_b: Path, args: argparse.Namespace, run: Run) -> None:
    """Register and load B, promote it once ready, unload A."""
    run.record.versions["A"] = old = await stable_version(http)
    await asyncio.sleep(max(0.0, args.swap_at - run.now()))
    run.mark("load asked", "before load")
    added = (await http.post(ADMIN, json={"source": str(model_b)})).raise_for_status().json()
    run.record.versions["B"] = new = added["version"]
    (await http.post(f"{ADMIN}/{new}/load")).raise_for_status()
    while True:
        listing = (await http.get(ADMIN)).raise_for_status().json()
        state = next(v["state"] for v in listing["versions"] if v["version"] == new)
        if state == "ready":
            break
        if state == "failed":
            raise SystemExit(f"version {new} failed to load")
        await asyncio.sleep(0.2)
    run.mark("ready", BOTH)
    (await http.post(f"{ADMIN}/{new}/promote")).raise_for_status()
    run.mark("promoted")
    (await http.post(f"{ADMIN}/{old}/unload")).raise_for_status()
    run.mark("unloaded")
    await asyncio.sleep(1.0)
    run.record.rss_at["after unload (+1 s)"] = rss_mib(run.pid)


async def drive(url: str, admin: str, users: list[str], args: argparse.Namespace, run: Run) -> None:
    headers = {"Authorization": f"Bearer {admin}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120) as http:
        clients = [client(url, key, i, args, run) for i, key in enumerate(users)]
        await asyncio.wait_for(
            asyncio.gather(
                swap(http, Path(args.model_b), args, run), *clients, run.sample_rss(args.seconds)
            ),
            timeout=args.seconds + 120,
        )
    run.record.rss_at["end"] = rss_mib(run.pid)


def phase_of(start: float, moments: dict[str, float]) -> str:
    if start < moments["load asked"]:
        return "before"
    return "during" if start < moments["unloaded"] else "after"


def report(record: Record, args: argparse.Namespace) -> None:
    names = {version: label for label, version in record.versions.items()}
    failures = Counter(status for _, _, status, _ in record.requests if status != "200")
    print(
        f"model={args.size} clients={args.clients} seconds={args.seconds} image={args.image}px "
        f"mmap_threshold={args.mmap_threshold or 'glibc default'} "
        f"A={record.versions['A']} B={record.versions['B']}"
    )
    print(f"requests={len(record.requests)} failures={sum(failures.values())} {dict(failures)}")
    print("moments (s): " + "  ".join(f"{m}={record.moments[m]:.1f}" for m in MOMENTS))
    print(f"{'phase':<7} {'requests':>8} {'p50 ms':>8} {'p95 ms':>8}  answers by version")
    for phase in PHASES:
        rows = [r for r in record.requests if phase_of(r[0], record.moments) == phase]
        latencies = sorted(r[1] * 1000 for r in rows if r[2] == "200")
        shares = Counter(names.get(r[3], r[3] or "-") for r in rows)
        share_text = "  ".join(f"{v}: {n / len(rows):.0%}" for v, n in sorted(shares.items()))
        p50 = statistics.median(latencies) if latencies else float("nan")
        p95 = latencies[math.ceil(0.95 * len(latencies)) - 1] if latencies else float("nan")
        print(f"{phase:<7} {len(rows):>8} {p50:>8.0f} {p95:>8.0f}  {share_text}")
    print("server RSS MiB: " + "  ".join(f"{k}={v:.0f}" for k, v in rss_figures(record).items()))


def rss_figures(record: Record) -> dict[str, float]:
    """The RSS at the swap's moments; with both loaded, its peak until A was unloaded (B's
    first runs add its buffers)."""
    ready, unloaded = record.moments["ready"], record.moments["unloaded"]
    figures = dict(record.rss_at)
    figures[BOTH] = max([mib for at, mib in record.rss if ready <= at < unloaded] + [figures[BOTH]])
    return figures


def plot(record: Record, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = {version: label for label, version in record.versions.items()}
    figure, (top, bottom) = plt.subplots(
        2, 1, figsize=(8, 5), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    for label, colour in (("A", "tab:blue"), ("B", "tab:orange")):
        points = [(s, lat * 1000) for s, lat, st, v in record.requests if names.get(v) == label]
        if points:
            xs, ys = zip(*points, strict=True)
            top.scatter(xs, ys, s=6, color=colour, label=f"{label} ({record.versions[label]})")
    failed = [(s, lat * 1000) for s, lat, st, _ in record.requests if st != "200"]
    if failed:
        xs, ys = zip(*failed, strict=True)
        top.scatter(xs, ys, s=20, marker="x", color="red", label="failed")
    times, mib = zip(*record.rss, strict=True)
    bottom.plot(times, mib, color="black")
    for row, (moment, at) in enumerate(record.moments.items()):
        for axes in (top, bottom):
            axes.axvline(at, color="grey", linestyle="--", linewidth=0.8)
        top.annotate(
            moment,
            (at, 0.97 - 0.07 * row),
            xycoords=("data", "axes fraction"),
            va="top",
            ha="left",
            fontsize=7,
            backgroundcolor="white",
        )
    top.set_ylabel("latency ms")
    top.legend(loc="lower right", fontsize=7)
    bottom.set_ylabel("server RSS MiB")
    bottom.set_xlabel("request start, s")
    figure.tight_layout()
    figure.savefig(path, dpi=80)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=40.0, help="Traffic, from the start.")
    parser.add_argument("--swap-at", type=float, default=10.0, help="When B's load is asked.")
    parser.add_argument("--size", default="tiny", choices=["tiny", "mid"])
    parser.add_argument("--image", type=int, default=160, help="Picture width in pixels.")
    parser.add_argument(
        "--mmap-threshold",
        type=int,
        default=0,
        help="The server's MALLOC_MMAP_THRESHOLD_ in bytes (0: glibc's dynamic default, which "
        "keeps freed tensors in the heap for reuse instead of returning them to the system).",
    )
    parser.add_argument("--plot", type=Path, help="Write latency over time to this PNG.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sam3-hot-swap-") as folder:
        work = Path(folder)
        model_a = build_tiny_model(work / "model-a", size=args.size, seed=0)
        args.model_b = build_tiny_model(work / "model-b", size=args.size, seed=1)
        admin, users = asyncio.run(make_keys(work / "data", args.clients))
        server, url = start_server(work, model_a, args.mmap_threshold)
        try:
            run = Run(server.pid)
            asyncio.run(drive(url, admin, users, args, run))
        finally:
            server.terminate()
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
    report(run.record, args)
    if args.plot:
        plot(run.record, args.plot)


if __name__ == "__main__":
    main()
