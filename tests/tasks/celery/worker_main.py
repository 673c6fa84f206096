"""A prefork `CeleryWorker` for the tests, whose jobs misbehave as their task ids say.

    python -m tests.tasks.celery.worker_main AMQP_URL QUEUE LOG_FILE

`crash-*` kills its own process, `slow-*` sleeps on the event loop (a soft time limit cancels
it), `hang-*` blocks the process (only the hard time limit ends it); any other id succeeds.
Every run and give-up is appended to LOG_FILE as `run <id> <pid>` / `give_up <id> <code>`.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

from sam3_service.errors import Sam3Error
from sam3_service.tasks.celery import CeleryWorker

SOFT_TIME_LIMIT_S = 1.0
TIME_LIMIT_S = 2.5
MAX_ATTEMPTS = 2


class MisbehavingProcess:
    def __init__(self, log: Path) -> None:
        self.log = log

    async def open(self) -> None:
        """Nothing to open."""

    async def run(self, task_id: str) -> None:
        self._write(f"run {task_id} {os.getpid()}")
        if task_id.startswith("crash-"):
            os.kill(os.getpid(), signal.SIGKILL)
        elif task_id.startswith("slow-"):
            await asyncio.sleep(60)
        elif task_id.startswith("hang-"):
            time.sleep(60)  # blocks the event loop: cancelling cannot end it

    async def give_up(self, task_id: str, error: Sam3Error) -> None:
        self._write(f"give_up {task_id} {error.code}")

    async def aclose(self) -> None:
        """Nothing to close."""

    def _write(self, line: str) -> None:
        with self.log.open("a") as out:
            out.write(line + "\n")


def main() -> int:
    url, queue, log = sys.argv[1:4]
    worker = CeleryWorker(
        url,
        MisbehavingProcess(Path(log)),
        queue=queue,
        max_attempts=MAX_ATTEMPTS,
        backoff_s=0.1,
        soft_time_limit_s=SOFT_TIME_LIMIT_S,
        time_limit_s=TIME_LIMIT_S,
    )
    return worker.run(loglevel="WARNING")


if __name__ == "__main__":
    sys.exit(main())
