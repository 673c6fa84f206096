"""The consuming side: a Celery worker whose pool processes run jobs, and its retry policy.

A delivery fails when the job raises a transient error (`TRANSIENT_ERRORS`), when the process
running it died (Celery retries it for a prefork child; a whole lost worker's message comes back
marked redelivered) or outlived the hard time limit. A failed delivery is tried again after
`backoff_s`, doubling each time up to a minute, for `max_attempts` deliveries in all: the count
travels in the message (Celery's `retries`). Then the process's `give_up` records the task as
failed and the message is rejected into `<queue>.dead`, so that a poison input cannot loop.

A worker consumes the shared queue, its model version's queue and its own queue (see
`topology`). A message rejected from its own queue moves on to the version's queue, whose next
worker rejects it at once, into `<queue>.dead`.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import uuid
from collections.abc import Iterator
from typing import Any, NoReturn

from celery import Task, signals
from celery.exceptions import Reject, SoftTimeLimitExceeded
from kombu import Queue

from ...errors import TRANSIENT_ERRORS, Sam3Error, TimedOut
from ..base import DEFAULT_WORKER_WAIT_S, WorkerProcess
from .app import DEFAULT_QUEUE, TASK_NAME, celery_app
from .loop import LoopThread
from .topology import declare_queues, version_queue, worker_queue

__all__ = ["POOLS", "CeleryWorker"]

log = logging.getLogger(__name__)

POOLS = ("prefork", "solo")
_MAX_BACKOFF_S = 60.0


class CeleryWorker:
    """Runs the jobs of `queue` with Celery: each pool process opens `process` once, on its own
    event loop, when Celery starts it (the `worker_process_init` signal) and closes it at exit.

    With the prefork `pool` (the default) each job runs in one of `concurrency` child processes
    that the worker replaces if it dies, and kills after `time_limit_s`; with solo it runs in
    the worker itself, without time limits. A process runs one job at a time either way.

    `version`: the model version its processes hold (None: unknown, only the shared queue and
    its own); `worker_id` names its own queue (default: host and pid), `wait_s` how long a
    task waits there (the API's queue must say the same).
    """

    def __init__(
        self,
        url: str,
        process: WorkerProcess,
        *,
        queue: str = DEFAULT_QUEUE,
        pool: str = "prefork",
        concurrency: int = 1,
        max_attempts: int = 4,
        backoff_s: float = 2.0,
        soft_time_limit_s: float | None = None,
        time_limit_s: float | None = None,
        start_timeout_s: float = 600.0,
        version: str | None = None,
        worker_id: str | None = None,
        wait_s: float = DEFAULT_WORKER_WAIT_S,
    ) -> None:
        if pool not in POOLS:
            raise ValueError(f"pool must be prefork or solo, got {pool!r}")
        if max_attempts < 1 or backoff_s <= 0 or concurrency < 1:
            raise ValueError("max_attempts and concurrency must be at least 1, backoff_s positive")
        self.queue = queue
        self.pool = pool
        self.processes = concurrency if pool == "prefork" else 1  # each runs `process`
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.hostname = f"sam3-{uuid.uuid4().hex[:8]}@{socket.gethostname()}"
        self.version = version
        self.worker_id = worker_id or f"{socket.gethostname()}-{os.getpid()}"
        self.routed: list[Queue] = [version_queue(queue, version)] if version else []
        self.routed.append(worker_queue(queue, self.worker_id, version=version, wait_s=wait_s))
        self.app = celery_app(
            url,
            queue,
            self.routed,
            task_soft_time_limit=soft_time_limit_s,
            task_time_limit=time_limit_s,
            worker_proc_alive_timeout=start_timeout_s,  # the model loads before a child is up
        )
        if pool == "solo":
            self.app.conf.broker_heartbeat = 0  # its blocking loop sends no AMQP heartbeats

        def run_job(task: Task, task_id: str) -> None:
            self._run_job(task, task_id)

        self.app.task(
            name=TASK_NAME,
            bind=True,
            shared=False,  # this app's own: Celery adds shared tasks to every app
            max_retries=None,
            default_retry_delay=backoff_s,
        )(run_job)
        self._process = process
        self._loop: LoopThread | None = None  # set in a pool process once `process` is open
        self._main_pid = os.getpid()
        self._start_failed = multiprocessing.get_context("fork").Event()

    def run(self, *, loglevel: str = "INFO", quiet: bool = False) -> int:
        """Consume until stopped (SIGTERM finishes the running jobs first); the exit status.
        `quiet`: no banner (when the logs are JSON lines)."""
        declare_queues(self.app, self.queue, *self.routed)
        with self.process_hooks():  # before the worker: the solo pool opens as it is made
            worker = self.app.Worker(
                hostname=self.hostname, loglevel=loglevel, quiet=quiet, **self.worker_options()
            )
            worker.start()
        return 1 if self._start_failed.is_set() else int(worker.exitcode or 0)

    def worker_options(self) -> dict[str, Any]:
        """The options of the Celery worker for this queue and pool."""
        return {
            "pool": self.pool,
            "concurrency": self.processes,
            "queues": [self.queue, *(queue.name for queue in self.routed)],
            "without_mingle": True,
            "without_gossip": True,
            "without_heartbeat": True,
            # Celery's event loop stalls for seconds between messages with the solo pool
            # (prefetch 1, acks_late); its blocking loop does not.
            "use_eventloop": self.pool == "prefork",
        }

    @contextlib.contextmanager
    def process_hooks(self) -> Iterator[None]:
        """Open and close `process` in this worker's pool processes while the block runs."""
        uid = f"sam3-{id(self)}"
        signals.worker_process_init.connect(self._open_process, dispatch_uid=uid, weak=False)
        signals.worker_process_shutdown.connect(self._close_process, dispatch_uid=uid, weak=False)
        signals.worker_shutdown.connect(self._close_process, dispatch_uid=uid, weak=False)
        try:
            yield
        finally:
            signals.worker_process_init.disconnect(dispatch_uid=uid)
            signals.worker_process_shutdown.disconnect(dispatch_uid=uid)
            signals.worker_shutdown.disconnect(dispatch_uid=uid)

    def _open_process(self, sender: object = None, **_: object) -> None:
        if sender != self.hostname:
            return  # another worker's pool, in the same (test) process
        loop = LoopThread()
        try:
            loop.run(self._process.open())
        except Exception:
            log.exception("this worker process could not start; stopping the worker")
            loop.close()
            self._start_failed.set()
            os.kill(self._main_pid, signal.SIGTERM)
            return
        self._loop = loop

    def _close_process(self, sender: object = None, **_: object) -> None:
        # prefork children send the hostname; the solo pool's worker sends itself.
        if getattr(sender, "hostname", sender) != self.hostname or self._loop is None:
            return
        loop, self._loop = self._loop, None
        try:
            loop.run(self._process.aclose())
        finally:
            loop.close()

    def _run_job(self, task: Task, task_id: str) -> None:
        loop = self._loop
        if loop is None:
            raise Reject("this worker process is not ready", requeue=True)
        if _rejected_before(task.request):
            raise Reject(f"task {task_id} was given up already", requeue=False)
        failed = task.request.retries  # deliveries of this task that failed before this one
        if (task.request.delivery_info or {}).get("redelivered"):
            failed += 1  # the worker that had it stopped (or the broker restarted) mid-job
            if failed < self.max_attempts:
                raise task.retry(countdown=self._backoff(failed))  # carries the new count
        if failed >= self.max_attempts:
            self._give_up(loop, task_id, _lost(task_id, failed))
        try:
            loop.run(self._process.run(task_id))
        except SoftTimeLimitExceeded:
            limit = self.app.conf.task_soft_time_limit
            self._give_up(loop, task_id, TimedOut(f"the job ran over {limit:g} s", task_id=task_id))
        except TRANSIENT_ERRORS as exc:
            if failed + 1 >= self.max_attempts:
                self._give_up(loop, task_id, exc)
            log.warning("task %s: %s; trying again (attempt %d)", task_id, exc, failed + 1)
            raise task.retry(countdown=self._backoff(failed + 1)) from exc
        except Exception:
            log.exception("task %s: the job raised", task_id)
            self._give_up(loop, task_id, Sam3Error("the job failed unexpectedly"))

    def _give_up(self, loop: LoopThread, task_id: str, error: Sam3Error) -> NoReturn:
        try:
            loop.run(self._process.give_up(task_id, error))
        except Exception:
            log.exception("task %s: could not record that it failed", task_id)
        raise Reject(f"task {task_id}: {error.message}", requeue=False)

    def _backoff(self, failed: int) -> float:
        return float(min(self.backoff_s * 2 ** (failed - 1), _MAX_BACKOFF_S))


def _rejected_before(request: Any) -> bool:
    """Whether the message was rejected last time (from a worker's own queue, which passes its
    dead letters on to the version's queue): the task was given up already."""
    deaths = getattr(request, "x-death", None) or []
    return bool(deaths) and deaths[0].get("reason") == "rejected"


def _lost(task_id: str, attempts: int) -> Sam3Error:
    return Sam3Error(f"task {task_id} was given up after {attempts} attempts: the worker stopped")
