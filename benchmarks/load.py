"""Load on the local cluster (`make cluster`) through nginx: closed-loop clients, each sending
`POST /v1/segment` with a new picture (so that neither the result cache nor the de-duplication
answers one) as soon as its previous answer came, for a bounded time per level of concurrency.
Clients come from several 127.0.0.x source addresses (nginx lets one address hold 32 requests
at once). Part way through each level, API replica `api-1` is killed (SIGKILL); supervisor
restarts it.

For each level it prints requests/s, p50/p95/p99 latency, errors, and the throughput over the
model-bound limit: workers x 1 / the median model time, read from the tasks' `timings_ms` (the
worker's stages: decoding, the model, encoding the result) of the same run. A request the API
stops waiting for (504 after SAM3_SYNC_TIMEOUT_S) leaves its task queued: the level waits for
those tasks to end (the next level must not inherit them) and counts them as work done. Then
it draws latency and throughput over time, the kill marked, into a PNG.

    make cluster                      # SAM3_CLUSTER_MODEL=tiny for a small model
    .venv/bin/python benchmarks/load.py [--clients 100 300] [--seconds 60] [--kill-at 20] \
        [--plot docs/load.png]
    make cluster-down
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "deploy" / "cluster"))
from cluster_files import BIN, WORKERS, Cluster  # noqa: E402

PER_SOURCE = 25  # clients per source address, under nginx's limit_conn of 32


@dataclass
class Answer:
    """One request: sent and done (seconds since the level began), status (0: no answer)."""

    sent: float
    done: float
    status: int
    model_ms: float | None
    error: str = ""
    task_id: str = ""  # of a request the API stopped waiting for (504): its task runs on


@dataclass
class Level:
    clients: int
    seconds: float
    answers: list[Answer] = field(default_factory=list)
    killed_at: float | None = None
    late_model_ms: list[float] = field(default_factory=list)  # tasks ended after a 504
    drained_s: float = 0.0  # since the level began, until the last of those tasks ended

    def ok(self) -> list[Answer]:
        return [a for a in self.answers if a.status == 200]

    def errors(self) -> Counter[str]:
        return Counter(a.error or str(a.status) for a in self.answers if a.status != 200)


def picture(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (120, 160, 3), np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def replica_pid(cluster: Cluster, program: str) -> int:
    status = [str(BIN / "supervisorctl"), "-c", str(cluster.conf), "status", program]
    line = subprocess.run(status, capture_output=True, text=True, check=False).stdout
    match = re.search(r"RUNNING\s+pid (\d+)", line)
    if match is None:
        raise SystemExit(f"{program} does not run: {line.strip()} (start it with `make cluster`)")
    return int(match.group(1))


async def client(
    pool: httpx.AsyncClient, gateway: str, level: Level, seeds: list[int], began: float
) -> None:
    """Send requests one after another until the level's time is up."""
    while (sent := time.monotonic() - began) < level.seconds:
        seeds[0] += 1
        files = {"file": (f"{seeds[0]}.png", picture(seeds[0]), "image/png")}
        try:
            answer = await pool.post(f"{gateway}/v1/segment", files=files, data={"prompt": "cat"})
            status, error = answer.status_code, ""
        except httpx.HTTPError as exc:
            status, error = 0, type(exc).__name__
        model_ms = sum(answer.json()["timings_ms"].values()) if status == 200 else None
        task = re.search(r"/v1/tasks/(\w+)", answer.text) if status == 504 else None
        done = time.monotonic() - began
        level.answers.append(
            Answer(sent, done, status, model_ms, error, task.group(1) if task else "")
        )


async def run_level(cluster: Cluster, level: Level, kill_at: float, seeds: list[int]) -> None:
    sources = [f"127.0.0.{2 + i}" for i in range((level.clients + PER_SOURCE - 1) // PER_SOURCE)]
    limits = httpx.Limits(max_connections=PER_SOURCE, max_keepalive_connections=PER_SOURCE)
    pools = [
        httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(local_address=source, limits=limits), timeout=180
        )
        for source in sources
    ]
    victim = replica_pid(cluster, "api-1")
    began = time.monotonic()

    async def kill() -> None:
        await asyncio.sleep(kill_at)
        os.kill(victim, signal.SIGKILL)
        level.killed_at = time.monotonic() - began

    try:
        await asyncio.gather(
            kill(),
            *(
                client(pools[i % len(pools)], cluster.gateway, level, seeds, began)
                for i in range(level.clients)
            ),
        )
    finally:
        for pool in pools:
            await pool.aclose()
    await drain(cluster.gateway, level, began, 900)


async def drain(gateway: str, level: Level, began: float, timeout_s: float) -> None:
    """Wait until the tasks of timed-out requests end (the next level must not inherit them);
    keep their model times."""
    left = {a.task_id for a in level.answers if a.task_id}
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=30) as pool:
        while left and time.monotonic() < deadline:
            for task_id in list(left):
                task = (await pool.get(f"{gateway}/v1/tasks/{task_id}")).json()
                if task["status"] not in ("queued", "running"):
                    left.discard(task_id)
                    if task["status"] == "succeeded":
                        level.late_model_ms.append(sum(task["timings_ms"].values()))
            await asyncio.sleep(2)
    level.drained_s = time.monotonic() - began


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def summary(level: Level) -> str:
    """A table row. req/s: answers 200 over the time from the first request to the last
    answer; the model-bound limit: workers / the median model time of every task that ran
    (answered, or ended after its request timed out); ratio: tasks done per second (both
    kinds, until the last ended) over that limit."""
    ok = level.ok()
    latencies = [a.done - a.sent for a in ok]
    span = max(a.done for a in level.answers)
    model_ms = [a.model_ms for a in ok if a.model_ms] + level.late_model_ms
    model_s = statistics.median(model_ms) / 1000 if model_ms else float("nan")
    limit = WORKERS / model_s
    done_rate = (len(ok) + len(level.late_model_ms)) / max(span, level.drained_s)
    errors = ", ".join(f"{n} {kind}" for kind, n in level.errors().most_common()) or "none"
    return (
        f"| {level.clients} | {len(level.answers)} | {len(ok) / span:.2f}"
        f" | {percentile(latencies, 50):.1f} | {percentile(latencies, 95):.1f}"
        f" | {percentile(latencies, 99):.1f} | {errors} | {model_s * 1000:.0f} | {limit:.2f}"
        f" | {done_rate:.2f} | **{done_rate / limit:.2f}** |"
    )


def plot(levels: list[Level], path: Path, model: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(9, 6.5))
    for level in levels:
        ok = level.ok()
        bins = np.arange(0, max(a.done for a in level.answers) + 4, 2.0)
        done = np.array([a.done for a in ok])
        latency = np.array([a.done - a.sent for a in ok])
        which = np.digitize(done, bins)
        p50 = [
            np.median(latency[which == i]) if (which == i).any() else np.nan
            for i in range(1, len(bins))
        ]
        top.plot(bins[:-1] + 1, p50, marker=".", label=f"{level.clients} clients: p50")
        counts, _ = np.histogram(done, bins)
        line = bottom.plot(bins[:-1] + 1, counts / 2.0, marker=".", label=f"{level.clients}: 200")
        failed, _ = np.histogram([a.done for a in level.answers if a.status != 200], bins)
        bottom.plot(
            bins[:-1] + 1,
            failed / 2.0,
            linestyle=":",
            color=line[0].get_color(),
            label=f"{level.clients}: errors",
        )
        if level.killed_at is not None:
            for axis in (top, bottom):
                axis.axvline(level.killed_at, color="red", linestyle="--", linewidth=1)
    top.set_ylabel("latency p50 (s), 2 s bins")
    bottom.set_ylabel("answers / s, 2 s bins")
    bottom.set_xlabel("seconds since the level began (red: api-1 killed with SIGKILL)")
    top.legend()
    bottom.legend()
    fig.suptitle(f"POST /v1/segment through nginx, 3 API replicas, {WORKERS} workers, {model}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[100, 300])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--kill-at", type=float, default=20)
    parser.add_argument("--plot", type=Path, default=Path("docs/load.png"))
    args = parser.parse_args()
    cluster = Cluster.from_env()
    if httpx.get(f"{cluster.gateway}/ready", timeout=10).status_code != 200:
        raise SystemExit(f"{cluster.gateway} is not ready: start the cluster with `make cluster`")
    levels, seeds = [], [int(time.time())]
    for clients in args.clients:
        level = Level(clients, args.seconds)
        asyncio.run(run_level(cluster, level, args.kill_at, seeds))
        levels.append(level)
        print(f"{clients} clients: done; api-1 killed at {level.killed_at:.1f} s", flush=True)
        time.sleep(15)  # supervisor has restarted api-1; nginx takes it back (fail_timeout)
    print(f"\nmodel {cluster.model_size}, {WORKERS} workers, {args.seconds:g} s a level\n")
    print(
        "| clients | requests | req/s (200) | p50 s | p95 s | p99 s | errors | median model ms "
        "| model-bound tasks/s | tasks done/s | ratio |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for level in levels:
        print(summary(level))
    plot(levels, args.plot, f"{cluster.model_size} model")
    print(f"\nplot: {args.plot}")


if __name__ == "__main__":
    main()
