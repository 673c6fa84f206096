"""Dropped connections between a client and one `sam3-service serve` process (`make serve`:
the tiny model inline, no broker): the keep-alive race.

uvicorn closes a connection that stayed idle SAM3_HTTP_KEEP_ALIVE_S (5 s) after it sent the last
answer; httpx keeps an idle connection for its own `keepalive_expiry` (5 s by default) after it
read that answer, which is later. A request sent on a connection that the server is closing
meets a reset (`httpx.ReadError`, a POST is never retried) or a close without an answer
(`RemoteProtocolError`).

Two bounded runs, each against its own fresh server:
1. burst: `--clients` concurrent clients (100), each sending the same picture `--requests`
   times (4): the reported case, 1 dropped in 400.
2. idle: `--clients` clients that each wait an idle time drawn around the server's keep-alive
   (4.8-5.2 s) between two requests, as clients that poll or a person clicking would.

    .venv/bin/python benchmarks/keep_alive.py [--clients 100] [--requests 4] [--keep-alive 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

SERVICE = str(Path(sys.executable).parent / "sam3-service")
EXAMPLE = Path(__file__).resolve().parents[1] / "src/sam3_service/web/examples/chelsea.png"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(folder: Path, keep_alive_s: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **{name: value for name, value in os.environ.items() if not name.startswith("SAM3_")},
        "HF_HUB_OFFLINE": "1",
        "SAM3_MODEL_FALLBACK_TO_TINY": "true",  # as `make serve` without the real weights
        "SAM3_DATA_DIR": str(folder / "data"),
        "SAM3_PORT": str(port),
        "SAM3_HTTP_KEEP_ALIVE_S": str(keep_alive_s),
        "OMP_NUM_THREADS": "1",
    }
    log = (folder / f"serve-{port}.log").open("wb")
    server = subprocess.Popen([SERVICE, "serve"], env=env, cwd=folder, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                return server, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    server.kill()
    raise SystemExit(f"the server did not get ready: {folder}")


async def send(client: httpx.AsyncClient, url: str, image: bytes, outcomes: Counter[str]) -> None:
    files = {"file": ("chelsea.png", image, "image/png")}
    try:
        answer = await client.post(f"{url}/v1/segment", files=files, data={"prompt": "cat"})
        outcomes[str(answer.status_code)] += 1
    except httpx.HTTPError as exc:
        outcomes[type(exc).__name__] += 1


async def burst(url: str, clients: int, requests: int) -> Counter[str]:
    outcomes: Counter[str] = Counter()
    image = EXAMPLE.read_bytes()
    async with httpx.AsyncClient(timeout=120) as client:  # httpx's defaults otherwise

        async def one() -> None:
            for _ in range(requests):
                await send(client, url, image, outcomes)

        await asyncio.gather(*(one() for _ in range(clients)))
    return outcomes


async def idle(url: str, clients: int, requests: int, keep_alive_s: int) -> Counter[str]:
    outcomes: Counter[str] = Counter()
    image = EXAMPLE.read_bytes()
    rng = random.Random(7)

    async def one() -> None:
        async with httpx.AsyncClient(timeout=120) as client:  # a connection of its own
            for _ in range(requests):
                await send(client, url, image, outcomes)
                await asyncio.sleep(keep_alive_s + rng.uniform(-0.2, 0.2))

    await asyncio.gather(*(one() for _ in range(clients)))
    return outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--requests", type=int, default=4)
    parser.add_argument("--keep-alive", type=int, default=5, help="SAM3_HTTP_KEEP_ALIVE_S")
    args = parser.parse_args()
    runs = {
        "burst": lambda url: burst(url, args.clients, args.requests),
        "idle": lambda url: idle(url, args.clients, args.requests, args.keep_alive),
    }
    with tempfile.TemporaryDirectory() as folder:
        for name, run in runs.items():
            server, url = start_server(Path(folder), args.keep_alive)
            try:
                outcomes = asyncio.run(run(url))
            finally:
                server.terminate()
                server.wait(30)
            print(f"{name}: {args.clients} clients x {args.requests}: {dict(outcomes)}", flush=True)


if __name__ == "__main__":
    main()
