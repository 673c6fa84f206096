"""Refinement traffic with routing by image against plain round-robin, side by side: the
warm-hit rate of the image-feature caches and the p50 latency of the later prompts.

Production backends on this machine (PostgreSQL, Redis, RabbitMQ), the tiny random SAM 3 (or
`--size mid`), every process a real `sam3-service` command: `--workers` workers (solo pool,
one model each) and two APIs on their queue, one routing by image (SAM3_ROUTE_BY_IMAGE=true),
the other not (false: any worker of the version takes a task). Each phase sends its own new
pictures: `--clients` users at once, each refining `--images` pictures one after another with
`--prompts` requests each (an upload with a text prompt, then text prompts and clicks on its
`image_id`), as a person at the web page does. A phase's warm hits are the workers' feature
cache hits (from their reports) over its later prompts (the first prompt on a new picture is a
miss either way). Round-robin runs first, then by image, then round-robin again, so that a
trend in the machine's load shows. The machine is shared: read the ratios.

    .venv/bin/python benchmarks/affinity.py [--workers 3] [--clients 6] [--images 4] [--prompts 5]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

import httpx
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent))
from queue_wait import RABBITMQ, SERVICE, database, free_port, png, process, wait_ready  # noqa: E402

from sam3_service.domain.fleet import WORKER_KEY, WorkerReport  # noqa: E402
from sam3_service.inference import build_tiny_model  # noqa: E402

REDIS = "redis://127.0.0.1:6379/14"  # a database of its own: worker reports are global keys
TEXTS = ["cat", "dog", "car", "person", "bird", "tree", "cup", "chair"]


def request_body(seed: int, n: int) -> dict[str, object]:
    """The `n`th later prompt on picture `seed`: a text prompt or a click, alternately."""
    body: dict[str, object] = {"image_id": hashlib.sha256(png(seed)).hexdigest()}
    if n % 2:
        body["points"] = [[10 + 7 * n, 20 + 5 * n]]
    else:
        body["prompt"] = TEXTS[n % len(TEXTS)]
    return body


async def refine(client: httpx.AsyncClient, seed: int, prompts: int) -> list[float]:
    """Upload picture `seed` with a first prompt, then send the later ones; their latencies."""
    files = {"file": (f"{seed}.png", png(seed), "image/png")}
    first = await client.post("/v1/segment", files=files, data={"prompt": "cat"})
    first.raise_for_status()
    later = []
    for n in range(1, prompts):
        started = time.perf_counter()
        answer = await client.post("/v1/segment", json=request_body(seed, n))
        answer.raise_for_status()
        later.append(time.perf_counter() - started)
    return later


async def phase(url: str, clients: int, images: int, prompts: int, first_seed: int) -> list[float]:
    """Every client refines its own pictures; the latencies of all later prompts."""
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:

        async def user(c: int) -> list[float]:
            seeds = range(first_seed + c * images, first_seed + (c + 1) * images)
            return [t for seed in seeds for t in await refine(client, seed, prompts)]

        return [t for times in await asyncio.gather(*map(user, range(clients))) for t in times]


def cache_counts(heartbeat_s: float) -> tuple[int, int]:
    """The workers' feature-cache hits and misses, once each has reported since."""
    time.sleep(3 * heartbeat_s)
    client = redis.Redis.from_url(REDIS)
    try:
        reports = [WorkerReport.from_json(d) for d in client.mget(client.keys(WORKER_KEY + "*"))]
    finally:
        client.close()
    return (
        sum(r.feature_cache_hits for r in reports),
        sum(r.feature_cache_misses for r in reports),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--images", type=int, default=4, help="Pictures per client and phase.")
    parser.add_argument("--prompts", type=int, default=5, help="Requests per picture.")
    parser.add_argument("--size", choices=["tiny", "mid"], default="tiny")
    args = parser.parse_args()
    heartbeat_s = 0.5
    work = Path(tempfile.mkdtemp(prefix="sam3-affinity-bench-"))
    model = build_tiny_model(work / f"{args.size}-random", size=args.size)
    redis.Redis.from_url(REDIS).flushdb()
    with ExitStack() as stack:
        common = {
            "SAM3_MODEL": str(model),
            "SAM3_DEVICE": "cpu",
            "SAM3_DATABASE_URL": stack.enter_context(database()),
            "SAM3_STORAGE_URL": (work / "blobs").as_uri(),
            "SAM3_REDIS_URL": REDIS,
            "SAM3_BROKER_URL": RABBITMQ,
            "SAM3_BROKER_QUEUE": f"bench-{uuid.uuid4().hex[:8]}",
            "SAM3_LOG_LEVEL": "WARNING",
            "SAM3_TORCH_THREADS": "1",
            "SAM3_WORKER_HEARTBEAT_S": str(heartbeat_s),
            "SAM3_DATA_DIR": str(work),
        }
        for n in range(args.workers):
            command = [SERVICE, "worker", "--pool", "solo"]
            stack.enter_context(process(command, common, work / f"worker-{n}.log"))
        apis = {}
        for mode, by_image in (("round_robin", "false"), ("by_image", "true")):
            port = free_port()
            env = {**common, "SAM3_PORT": str(port), "SAM3_ROUTE_BY_IMAGE": by_image}
            stack.enter_context(process([SERVICE, "serve"], env, work / f"api-{mode}.log"))
            apis[mode] = f"http://127.0.0.1:{port}"
        for api in apis.values():
            wait_ready(api)
        time.sleep(3 * heartbeat_s)  # every worker has reported ready: all are routed to
        figures: dict[str, dict[str, float]] = {}
        for number, mode in enumerate(["round_robin", "by_image", "round_robin"]):
            hits, _ = cache_counts(heartbeat_s)
            seed = 1000 * (number + 1)
            started = time.perf_counter()
            times = asyncio.run(phase(apis[mode], args.clients, args.images, args.prompts, seed))
            seconds = time.perf_counter() - started
            warm = (cache_counts(heartbeat_s)[0] - hits) / len(times)
            name = mode if mode not in figures else f"{mode}_again"
            figures[name] = {
                "later_prompts": len(times),
                "warm_hit_rate": round(warm, 3),
                "later_p50_ms": round(statistics.median(times) * 1000, 1),
                "later_p95_ms": round(statistics.quantiles(times, n=20)[-1] * 1000, 1),
                "requests_per_s": round((len(times) + args.clients * args.images) / seconds, 1),
            }
    print(json.dumps({"model": f"{args.size}-random, cpu", **vars(args), **figures}, indent=2))


if __name__ == "__main__":
    main()
