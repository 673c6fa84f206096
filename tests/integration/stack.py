"""The production stack of the integration tests: settings, worker processes, pictures, and
what the tests read back (task rows, worker reports).

Worker processes are real `sam3-service worker` commands (a prefork parent and its child,
in a process group of their own, so that a test can kill either or both).
"""

from __future__ import annotations

import io
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import sqlalchemy as sa
from PIL import Image, ImageDraw

from sam3_service.domain.fleet import WORKER_KEY, WorkerReport
from sam3_service.settings import Settings
from tests.servers import RabbitMQNode, RedisServer

WORKER_START_S = 120
SAM3_SERVICE = str(Path(sys.executable).parent / "sam3-service")


@dataclass
class Stack:
    """PostgreSQL, S3, a private Redis and a private RabbitMQ node, and how to reach them."""

    fields: dict[str, Any]  # Settings fields shared by the API and the workers
    redis: RedisServer
    rabbitmq: RabbitMQNode
    logs: Path
    workers: list[Worker] = field(default_factory=list)

    def settings(self, **overrides: Any) -> Settings:
        """The API's settings (the same as the workers', with `overrides`)."""
        return Settings(_env_file=None, **{**self.fields, **overrides})  # type: ignore[call-arg]

    def env(self, **overrides: Any) -> dict[str, str]:
        """The environment of a worker process."""
        values = {**self.fields, **overrides}
        env = {f"SAM3_{name.upper()}": str(value) for name, value in values.items()}
        return {**os.environ, **env, "OMP_NUM_THREADS": "1"}  # two workers share two cores

    def start_worker(self, **overrides: Any) -> Worker:
        """Start a `sam3-service worker` (not waiting for it to be ready)."""
        log = self.logs / f"worker-{len(self.workers)}.log"
        worker = Worker(self.env(**overrides), log)
        self.workers.append(worker)
        return worker

    def live_workers(self, count: int) -> list[Worker]:
        """`count` workers that are ready, starting new ones for any that died."""
        alive = [worker for worker in self.workers if worker.alive]
        for _ in range(count - len(alive)):
            alive.append(self.start_worker())
        for worker in alive[:count]:
            worker.wait_ready(self.redis_client())
        return alive[:count]

    def redis_client(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis.url, socket_timeout=2)

    def reports(self) -> list[WorkerReport]:
        """The workers' latest reports in Redis."""
        client = self.redis_client()
        try:
            keys = client.keys(WORKER_KEY + "*")
            return [WorkerReport.from_json(data) for data in client.mget(keys) if data]
        finally:
            client.close()

    def inferences(self) -> int:
        """Images segmented by the workers reporting now."""
        return sum(report.inferences for report in self.reports())

    def rows(self, ids: list[str] | None = None) -> dict[str, dict[str, Any]]:
        """Task rows by id, straight from PostgreSQL."""
        engine = sa.create_engine(self.fields["database_url"])
        query = "SELECT id, status, attempts, result_key, finished_at FROM tasks"
        try:
            with engine.connect() as conn:
                rows = conn.execute(sa.text(query)).mappings().all()
        finally:
            engine.dispose()
        found = {row["id"]: dict(row) for row in rows}
        return found if ids is None else {task_id: found[task_id] for task_id in ids}

    def deliveries(self, task_id: str) -> dict[Path, int]:
        """How often each worker received `task_id`, per the workers' logs."""
        needle = f"Task sam3.run_job[{task_id}] received"
        counts = {worker.log: worker.log.read_text().count(needle) for worker in self.workers}
        return {log: count for log, count in counts.items() if count}

    def stop_workers(self) -> None:
        for worker in self.workers:
            worker.kill()


class Worker:
    """One `sam3-service worker --concurrency 1` process group."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [SAM3_SERVICE, "worker", "--concurrency", "1"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def child_pid(self) -> int | None:
        """The prefork child's pid, if it runs."""
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == self.process.pid:
                    return int(entry.name)
        return None

    def worker_id(self) -> str | None:
        """The id its model process reports under (host and child pid)."""
        pid = self.child_pid()
        return f"{socket.gethostname()}-{pid}" if pid else None

    def wait_ready(self, client: redis.Redis, timeout_s: float = WORKER_START_S) -> str:
        """Wait until its child reports `ready`; returns the worker id."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.alive, f"the worker exited:\n{self.log.read_text()[-3000:]}"
            worker_id = self.worker_id()
            data = client.get(WORKER_KEY + worker_id) if worker_id else None
            if data and WorkerReport.from_json(data).state == "ready":
                return str(worker_id)
            time.sleep(0.1)
        raise AssertionError(f"the worker was not ready:\n{self.log.read_text()[-3000:]}")

    def running(self) -> str | None:
        """The id of the task it received and has not finished, per its log."""
        received = re.findall(r"Task sam3\.run_job\[(\w+)\] received", self.log.read_text())
        ended = re.findall(
            r"Task sam3\.run_job\[(\w+)\] (?:succeeded|retry|raised)", self.log.read_text()
        )
        pending = [task_id for task_id in received if task_id not in set(ended)]
        return pending[-1] if pending else None

    def signal_child(self, signum: int) -> None:
        """Send `signum` to the prefork child, the process that runs the model."""
        pid = self.child_pid()
        assert pid is not None, "the worker has no child"
        os.kill(pid, signum)

    def signal_all(self, signum: int) -> None:
        """Send `signum` to the whole worker: parent and child."""
        os.killpg(self.process.pid, signum)

    def kill(self) -> None:
        """Kill -9 the whole worker, if it still runs, and reap it."""
        if self.alive:
            self.signal_all(signal.SIGKILL)
        self.process.wait(timeout=30)


def picture(seed: int, width: int = 320, height: int = 240) -> bytes:
    """A PNG that no other seed gives: shapes whose places depend on `seed`."""
    image = Image.new("RGB", (width, height), (seed * 37 % 256, 90, 160))
    draw = ImageDraw.Draw(image)
    x, y = seed * 13 % (width - 60), seed * 29 % (height - 60)
    draw.ellipse([x, y, x + 60, y + 50], fill=(230, 200, 40))
    draw.rectangle([width - x - 50, height - y - 40, width - x, height - y], fill=(20, 160, 60))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
