"""The task queue on the CPU: what waiting costs a synchronous request, and throughput as
waiting clients grow. Production backends on this machine (PostgreSQL, Redis, RabbitMQ), the
tiny random SAM 3, every process a real `sam3-service` command:

1. p50 of `POST /v1/segment` through the queue (an API without a model, two workers) minus p50
   of the same request inline (an API holding the model). Goal: at most 5 ms.
2. Throughput (requests/s) of API + 2 workers at 100 concurrent clients over that at 4.
   Goal: at least 0.9.

Both APIs run side by side, requests interleaved; every request sends a new picture, so neither
the result cache nor the de-duplication answers one. The machine is shared: figures are noisy,
ratios are what to read.

    .venv/bin/python benchmarks/queue_wait.py [--rounds 30] [--clients 4 100]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import numpy as np
import sqlalchemy as sa
from PIL import Image

from sam3_service.inference import build_tiny_model

SERVICE = str(Path(sys.executable).parent / "sam3-service")
POSTGRES = os.environ.get("SAM3_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1/test")
REDIS = "redis://127.0.0.1:6379/13"  # a database of its own: worker reports are global keys
RABBITMQ = "amqp://guest:guest@127.0.0.1:5672/"


def png(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (96, 128, 3), np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def database() -> Iterator[str]:
    name = f"sam3_bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield sa.make_url(POSTGRES).set(database=name).render_as_string(False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@contextmanager
def process(args: list[str], env: dict[str, str], log: Path) -> Iterator[None]:
    with log.open("w") as out:
        child = subprocess.Popen(args, env={**os.environ, **env}, stdout=out, stderr=out)
    try:
        yield
    finally:
        child.terminate()
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()


def wait_ready(url: str, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready after {timeout_s} s")


async def request(client: httpx.AsyncClient, seed: int) -> float:
    started = time.perf_counter()
    response = await client.post(
        "/v1/segment", files={"file": ("x.png", png(seed), "image/png")}, data={"prompt": "cat"}
    )
    response.raise_for_status()
    return time.perf_counter() - started


async def latencies(queued: str, inline: str, rounds: int) -> tuple[list[float], list[float]]:
    via_queue, in_process = [], []
    async with (
        httpx.AsyncClient(base_url=queued, timeout=120) as q,
        httpx.AsyncClient(base_url=inline, timeout=120) as i,
    ):
        await request(q, 1)
        await request(i, 2)
        for n in range(rounds):
            via_queue.append(await request(q, 1000 + 2 * n))
            in_process.append(await request(i, 1001 + 2 * n))
    return via_queue, in_process


async def throughput(url: str, clients: int, per_client: int, first_seed: int) -> float:
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as client:

        async def one(c: int) -> None:
            for n in range(per_client):
                await request(client, first_seed + c * per_client + n)

        started = time.perf_counter()
        await asyncio.gather(*(one(c) for c in range(clients)))
        return clients * per_client / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--clients", type=int, nargs=2, default=[4, 100])
    parser.add_argument("--requests", type=int, default=200, help="Per throughput measurement.")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sam3-queue-bench-"))
    model = build_tiny_model(work / "tiny-random")
    with ExitStack() as stack:
        url = stack.enter_context(database())
        common = {
            "SAM3_MODEL": str(model),
            "SAM3_DEVICE": "cpu",
            "SAM3_DATABASE_URL": url,
            "SAM3_STORAGE_URL": (work / "blobs").as_uri(),
            "SAM3_REDIS_URL": REDIS,
            "SAM3_LOG_LEVEL": "WARNING",
            "SAM3_MAX_QUEUE_DEPTH": "10000",
            "SAM3_TORCH_THREADS": "1",  # three model processes (two workers, the inline API)
        }
        broker = {"SAM3_BROKER_URL": RABBITMQ, "SAM3_BROKER_QUEUE": f"bench-{uuid.uuid4().hex[:8]}"}
        for n in range(2):
            env = {**common, **broker, "SAM3_DATA_DIR": str(work)}
            stack.enter_context(process([SERVICE, "worker", "--pool", "solo"], env, work / f"w{n}"))
        apis = {}
        for name, extra in (("queued", broker), ("inline", {})):
            port = free_port()
            env = {**common, **extra, "SAM3_PORT": str(port), "SAM3_DATA_DIR": str(work / name)}
            stack.enter_context(process([SERVICE, "serve"], env, work / f"{name}.log"))
            apis[name] = f"http://127.0.0.1:{port}"
        for api in apis.values():
            wait_ready(api)
        via_queue, in_process = asyncio.run(latencies(apis["queued"], apis["inline"], args.rounds))
        few, many = args.clients
        rates = {
            clients: asyncio.run(
                throughput(apis["queued"], clients, args.requests // clients, 100_000 * clients)
            )
            for clients in (few, many)
        }
    queue_ms, inline_ms = statistics.median(via_queue) * 1000, statistics.median(in_process) * 1000
    print(
        json.dumps(
            {
                "model": "tiny-random, cpu",
                "rounds": args.rounds,
                "sync_via_queue_p50_ms": round(queue_ms, 1),
                "sync_inline_p50_ms": round(inline_ms, 1),
                "queue_minus_inline_ms": round(queue_ms - inline_ms, 1),
                f"throughput_{few}_clients_rps": round(rates[few], 2),
                f"throughput_{many}_clients_rps": round(rates[many], 2),
                f"throughput_{many}_over_{few}": round(rates[many] / rates[few], 2),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
