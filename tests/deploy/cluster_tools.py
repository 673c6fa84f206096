"""What the cluster's fault tests drive: a throwaway PostgreSQL server, bounded traffic from
many concurrent clients on several loopback source addresses, and supervisor's processes."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.servers import free_port

CLIENTS_PER_SOURCE = 25  # nginx lets one address hold 32 requests at once (limit_conn)
STATUS_LINE = re.compile(r"^(\S+)\s+(\S+)\s+pid (\d+), uptime \d+:\d\d:\d\d$")

Send = Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]]


class PostgresServer:
    """A throwaway PostgreSQL server (initdb, pg_ctl) on a free loopback port, trusting local
    users; a test may stop and start it without touching the machine's server. As root, it runs
    as the `postgres` user, in a folder of the system's temporary folder open to that user."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}"
        self.root = Path(tempfile.mkdtemp(prefix="sam3-postgres-"))
        self.root.chmod(0o777)
        self.data = self.root / "data"

    def _run(self, *args: str) -> None:
        binary = shutil.which(args[0])
        if binary is None:
            pytest.fail(f"{args[0]} (PostgreSQL's server tools) is not installed")
        as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        done = subprocess.run([*as_user, binary, *args[1:]], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.fail(f"{' '.join(args)} failed:\n{done.stdout}{done.stderr}")

    def start(self) -> None:
        """Create the server's data the first time; start it and wait until it accepts."""
        if not self.data.exists():
            self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-N")
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=off"
        log = str(self.root / "server.log")
        self._run("pg_ctl", "-D", str(self.data), "-l", log, "-o", options, "-w", "start")

    def stop(self) -> None:
        """Stop it fast: open connections are closed, as in a real restart."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        """Stop it if it runs, and delete its data."""
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass(frozen=True)
class Outcome:
    """One request: when it was sent (monotonic seconds), its status (0: no answer), latency."""

    sent: float
    status: int
    latency_s: float
    error: str = ""


class Traffic:
    """`clients` concurrent clients, each sending `send` requests one after another, from
    several 127.0.0.x source addresses, until stopped, after `per_client` requests each, or
    after `limit_s` seconds (pausing `pause_s` after each answer): traffic bounded in count
    and time. Runs in a thread of its own
    (its own event loop), so that the test can kill processes meanwhile."""

    def __init__(
        self, send: Send, clients: int, per_client: int, limit_s: float, pause_s: float = 0
    ) -> None:
        self.send, self.clients, self.per_client, self.limit_s = send, clients, per_client, limit_s
        self.pause_s = pause_s  # each client's pause after each answer
        self.outcomes: list[Outcome] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()))

    def __enter__(self) -> Traffic:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> list[Outcome]:
        self.stopping.set()
        self.thread.join(self.limit_s + 60)
        return self.outcomes

    def sent(self) -> int:
        return len(self.outcomes)

    def failed(self, ok: set[int]) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome.status not in ok]

    async def _run(self) -> None:
        sources = [
            f"127.0.0.{2 + index}"
            for index in range((self.clients + CLIENTS_PER_SOURCE - 1) // CLIENTS_PER_SOURCE)
        ]
        limits = httpx.Limits(max_connections=CLIENTS_PER_SOURCE)
        pools = [
            httpx.AsyncClient(
                transport=httpx.AsyncHTTPTransport(local_address=source, limits=limits),
                timeout=60,
            )
            for source in sources
        ]
        deadline = time.monotonic() + self.limit_s
        try:
            await asyncio.gather(
                *(self._client(pools[i % len(pools)], i, deadline) for i in range(self.clients))
            )
        finally:
            for pool in pools:
                await pool.aclose()

    async def _client(self, pool: httpx.AsyncClient, index: int, deadline: float) -> None:
        for number in range(self.per_client):
            if self.stopping.is_set() or time.monotonic() > deadline:
                return
            sent = time.monotonic()
            try:
                answer = await self.send(pool, index * self.per_client + number)
                status, error = answer.status_code, ""
            except httpx.HTTPError as exc:
                status, error = 0, f"{type(exc).__name__}: {exc}"
            self.outcomes.append(Outcome(sent, status, time.monotonic() - sent, error))
            await asyncio.sleep(self.pause_s)


def make(target: str, env: dict[str, str], timeout_s: float) -> subprocess.CompletedProcess[str]:
    """`make TARGET` with this interpreter's environment (never reinstalled: -o)."""
    venv = Path(sys.executable).parent.parent
    command = ["make", "--no-print-directory", "-o", f"{venv}/.installed", f"VENV={venv}", target]
    root = Path(__file__).resolve().parents[2]
    return subprocess.run(
        command, cwd=root, env=env, capture_output=True, text=True, timeout=timeout_s
    )


def statuses(env: dict[str, str]) -> dict[str, tuple[str, int]]:
    """supervisor's status lines, by program: (state, pid); pid 0 while it does not run."""
    found = {}
    for line in make("cluster-status", env, 30).stdout.splitlines():
        match = STATUS_LINE.match(line.strip())
        if match:
            found[match.group(1)] = (match.group(2), int(match.group(3)))
        elif line.strip():
            found[line.split()[0]] = (line.split()[1], 0)
    return found


def wait_until(check: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.5)
    return False
