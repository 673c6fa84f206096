"""Dropped connections between a client and one `sam3-service serve` process (`make serve`:
the tiny model inline, no broker): the keep-alive race.

uvicorn closes a connection that stayed idle SAM3_HTTP_KEEP_ALIVE_S (5 s) after it sent the last
answer; httpx keeps an idle connection for its own `keepalive_expiry` (5 s by default) after it
read that answer, which is later. A request sent on a connection that the server is closing
meets a reset (`httpx.ReadError`, a POST is never retried) or a close without an answer
(`RemoteProtocolError`).

Two bounded runs, each against its own fresh server:
1. burst: `--requests` rounds (4) of `--clients` (100) requests at once with the same
   picture: the reported case, 1 dropped in 400.
2. idle: `--clients` clients that each wait about httpx's keep-alive expiry (4.8-5.2 s)
   between two requests, as clients that poll or a person clicking would.

Each run is made with the server's keep-alive at each `--keep-alive` value (5: the default;
75: longer than the clients').

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
CLIENT_EXPIRY_S = 5.0  # httpx's keepalive_expiry by default
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
    """`requests` rounds of `clients` requests at once, on one client (httpx's default pool):
    after a round that lasted about the keep-alive, some connections go back to work just as
    the server closes them."""
    outcomes: Counter[str] = Counter()
    image = EXAMPLE.read_bytes()
    async with httpx.AsyncClient(timeout=120) as client:  # httpx's defaults otherwise
        for _ in range(requests):
            await asyncio.gather(*(send(client, url, image, outcomes) for _ in range(clients)))
    return outcomes


async def idle(url: str, clients: int, requests: int) -> Counter[str]:
    """Clients that each wait about httpx's keep-alive expiry (5 s) between two requests."""
    outcomes: Counter[str] = Counter()
    image = EXAMPLE.read_bytes()
    rng = random.Random(7)

    async def one() -> None:
        async with httpx.AsyncClient(timeout=120) as client:  # a connection of its own
            for _ in range(requests):
                await send(client, url, image, outcomes)
                await asyncio.sleep(CLIENT_EXPIRY_S + rng.uniform(-0.2, 0.2))

    await asyncio.gather(*(one() for _ in range(clients)))
    return outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--requests", type=int, default=4)
    parser.add_argument(
        "--keep-alive", type=int, nargs="+", default=[5, 75], help="SAM3_HTTP_KEEP_ALIVE_S values"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for keep_alive in args.keep_alive:
            runs = {
                "burst": lambda url: burst(url, args.clients, args.requests),
                "idle": lambda url: idle(url, args.clients, args.requests),
            }
            for name, run in runs.items():
                server, url = start_server(Path(folder), keep_alive)
                try:
                    outcomes = asyncio.run(run(url))
                finally:
                    server.terminate()
                    server.wait(30)
                figures = f"{args.clients} clients x {args.requests}: {dict(outcomes)}"
                print(f"server keep-alive {keep_alive} s, {name}: {figures}", flush=True)


if __name__ == "__main__":
    main()
