"""Celery on RabbitMQ: a durable queue of task ids, its dead-letter queue, and the worker side.

Both sides declare the same topology (idempotently):

    exchange <queue>      -> queue <queue>       durable; a rejected message goes to <queue>.dead
    exchange <queue>.dead -> queue <queue>.dead  durable; read or replayed by operators

Messages are persistent and carry only the task id (also used as the Celery task id).
`enqueue` returns once the broker confirmed the message, so an accepted id survives a broker
restart. A worker process takes one message at a time (prefetch 1) and acknowledges it after
the job ran (acks_late): a worker that dies mid-job leaves its message to be delivered again.

A delivery fails when the job raises a transient error (`TRANSIENT_ERRORS`), when the process
running it died (Celery retries it for a prefork child; a whole lost worker's message comes back
marked redelivered) or outlived the hard time limit. A failed delivery is tried again after
`backoff_s`, doubling each time up to a minute, for `max_attempts` deliveries in all: the count
travels in the message (Celery's `retries`). Then the process's `give_up` records the task as
failed and the message is rejected into `<queue>.dead`, so that a poison input cannot loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import threading
import uuid
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, NoReturn, TypeVar

from amqp.exceptions import AMQPError
from celery import Celery, Task, signals
from celery.exceptions import Reject, SoftTimeLimitExceeded
from kombu import Connection, Exchange, Queue
from kombu.exceptions import KombuError

from ..errors import TRANSIENT_ERRORS, BackendUnavailable, Busy, Sam3Error, TimedOut
from .base import WorkerProcess

__all__ = ["DEFAULT_QUEUE", "CeleryQueue", "CeleryWorker", "celery_app"]

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_QUEUE = "sam3.tasks"
TASK_NAME = "sam3.run_job"
_MAX_BACKOFF_S = 60.0
_CONNECT_TIMEOUT_S = 4.0
# Publishing rides out a broker that blinks (about 2 s), then answers BackendUnavailable.
_PUBLISH_RETRY = {"max_retries": 3, "interval_start": 0.2, "interval_step": 0.4, "interval_max": 1}
_BROKER_ERRORS = (OSError, KombuError, AMQPError)


def celery_app(url: str, queue: str = DEFAULT_QUEUE, **conf: Any) -> Celery:
    """A Celery app for `queue` on the broker at `url`, with the reliability settings above."""
    app = Celery("sam3_service", broker=url, set_as_current=False)
    app.conf.update(
        task_queues=[_work_queue(queue)],
        task_default_queue=queue,
        task_default_exchange=queue,
        task_default_routing_key=queue,
        task_create_missing_queues=False,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,  # the task store holds outcomes
        task_default_delivery_mode="persistent",
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_retry_on_worker_lost=True,
        task_acks_on_failure_or_timeout=False,  # a failed delivery is rejected, not dropped
        task_publish_retry_policy=_PUBLISH_RETRY,
        broker_transport_options={"confirm_publish": True},
        broker_connection_timeout=_CONNECT_TIMEOUT_S,
        broker_connection_retry_on_startup=True,
        worker_prefetch_multiplier=1,
        worker_enable_remote_control=False,
        worker_send_task_events=False,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        **conf,
    )
    return app


class CeleryQueue:
    """Publishes task ids to `queue` on RabbitMQ (`amqp://`); it never consumes.

    Jobs run in `sam3-service worker` processes (`CeleryWorker`). `max_depth` is checked
    before each publish, so the bound is approximate under concurrent submissions.
    """

    def __init__(self, url: str, *, queue: str = DEFAULT_QUEUE, max_depth: int = 1000) -> None:
        if max_depth < 1:
            raise ValueError("max_depth must be at least 1")
        self.queue = queue
        self.max_depth = max_depth
        self.app = celery_app(url, queue)

    async def start(self) -> None:
        """Declare the queues. Raises BackendUnavailable if the broker cannot be reached."""
        await self._call(lambda: declare_queues(self.app, self.queue))

    async def enqueue(self, task_id: str) -> None:
        """Publish a task id, confirmed by the broker. Raises Busy or BackendUnavailable."""
        depth = await self.depth()
        if depth >= self.max_depth:
            raise Busy(f"the queue holds {depth} tasks already", retry_after=5)
        await self._call(lambda: self._publish(task_id))

    async def depth(self) -> int:
        """How many task ids wait in the queue (for autoscaling; not those being run)."""
        return await self._call(lambda: message_count(self.app, self.queue))

    async def dead_letters(self) -> int:
        """How many task ids were given up and wait in `<queue>.dead`."""
        return await self._call(lambda: message_count(self.app, _dead_name(self.queue)))

    async def aclose(self) -> None:
        """Release the broker connections; queued ids stay in the broker."""
        await asyncio.to_thread(self.app.close)

    def _publish(self, task_id: str) -> None:
        self.app.send_task(TASK_NAME, args=[task_id], task_id=task_id, retry=True)

    async def _call(self, fn: Callable[[], T]) -> T:
        try:
            return await asyncio.to_thread(fn)
        except _BROKER_ERRORS as exc:
            raise BackendUnavailable(f"the task queue is unavailable: {exc}") from exc


class CeleryWorker:
    """Runs the jobs of `queue` with Celery: each pool process opens `process` once, on its own
    event loop, when Celery starts it (the `worker_process_init` signal) and closes it at exit.

    With the prefork pool (the default) each job runs in a child process that the worker
    replaces if it dies, and kills after `time_limit_s`; with solo it runs in the worker
    itself, without time limits. A process runs one job at a time either way.
    """

    def __init__(
        self,
        url: str,
        process: WorkerProcess,
        *,
        queue: str = DEFAULT_QUEUE,
        max_attempts: int = 4,
        backoff_s: float = 2.0,
        soft_time_limit_s: float | None = None,
        time_limit_s: float | None = None,
        start_timeout_s: float = 600.0,
    ) -> None:
        if max_attempts < 1 or backoff_s <= 0:
            raise ValueError("max_attempts must be at least 1 and backoff_s positive")
        self.queue = queue
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.hostname = f"sam3-{uuid.uuid4().hex[:8]}@{socket.gethostname()}"
        self.app = celery_app(
            url,
            queue,
            task_soft_time_limit=soft_time_limit_s,
            task_time_limit=time_limit_s,
            worker_proc_alive_timeout=start_timeout_s,  # the model loads before a child is up
        )

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
        self._loop: _LoopThread | None = None  # set in a pool process once `process` is open
        self._main_pid = os.getpid()
        self._start_failed = multiprocessing.get_context("fork").Event()

    def run(
        self,
        *,
        pool: str = "prefork",
        concurrency: int = 1,
        loglevel: str = "INFO",
        quiet: bool = False,
    ) -> int:
        """Consume until stopped (SIGTERM finishes the running jobs first); the exit status.
        `quiet`: no banner (when the logs are JSON lines)."""
        options = self.worker_options(pool, concurrency)
        if pool == "solo":
            self.app.conf.broker_heartbeat = 0  # its blocking loop sends no AMQP heartbeats
        declare_queues(self.app, self.queue)
        with self.process_hooks():  # before the worker: the solo pool opens as it is made
            worker = self.app.Worker(
                hostname=self.hostname, loglevel=loglevel, quiet=quiet, **options
            )
            worker.start()
        return 1 if self._start_failed.is_set() else int(worker.exitcode or 0)

    def worker_options(self, pool: str, concurrency: int = 1) -> dict[str, Any]:
        """The options of a Celery worker for this queue with `pool` (prefork or solo)."""
        if pool not in ("prefork", "solo"):
            raise ValueError(f"pool must be prefork or solo, got {pool!r}")
        return {
            "pool": pool,
            "concurrency": concurrency if pool == "prefork" else 1,
            "queues": [self.queue],
            "without_mingle": True,
            "without_gossip": True,
            "without_heartbeat": True,
            # Celery's event loop stalls for seconds between messages with the solo pool
            # (prefetch 1, acks_late); its blocking loop does not.
            "use_eventloop": pool == "prefork",
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
        loop = _LoopThread()
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

    def _give_up(self, loop: _LoopThread, task_id: str, error: Sam3Error) -> NoReturn:
        try:
            loop.run(self._process.give_up(task_id, error))
        except Exception:
            log.exception("task %s: could not record that it failed", task_id)
        raise Reject(f"task {task_id}: {error.message}", requeue=False)

    def _backoff(self, failed: int) -> float:
        return float(min(self.backoff_s * 2 ** (failed - 1), _MAX_BACKOFF_S))


def declare_queues(app: Celery, queue: str) -> None:
    """Declare the work queue, the dead-letter queue and their exchanges (idempotent)."""
    with _connection(app) as conn:
        channel = conn.default_channel
        _dead_queue(queue)(channel).declare()
        _work_queue(queue)(channel).declare()


def message_count(app: Celery, queue: str) -> int:
    """How many messages wait in `queue` (not those delivered and not yet acknowledged)."""
    try:
        return _message_count(app, queue)
    except _BROKER_ERRORS:  # a pooled connection that the broker dropped: once more, afresh
        return _message_count(app, queue)


def _message_count(app: Celery, queue: str) -> int:
    with _connection(app) as conn:
        return int(conn.default_channel.queue_declare(queue, passive=True).message_count)


@contextlib.contextmanager
def _connection(app: Celery) -> Iterator[Connection]:
    """A pooled broker connection, connected with a single attempt (no endless retrying)."""
    with app.pool.acquire(block=True, timeout=_CONNECT_TIMEOUT_S) as conn:
        try:
            conn.ensure_connection(max_retries=1)
            yield conn
        except _BROKER_ERRORS:
            conn.collect()  # forget the broken socket: the next use connects afresh
            raise


def _work_queue(name: str) -> Queue:
    dead = _dead_name(name)
    return Queue(
        name,
        Exchange(name, type="direct", durable=True),
        routing_key=name,
        durable=True,
        queue_arguments={"x-dead-letter-exchange": dead, "x-dead-letter-routing-key": dead},
    )


def _dead_queue(name: str) -> Queue:
    dead = _dead_name(name)
    return Queue(dead, Exchange(dead, type="direct", durable=True), routing_key=dead, durable=True)


def _dead_name(queue: str) -> str:
    return f"{queue}.dead"


def _lost(task_id: str, attempts: int) -> Sam3Error:
    return Sam3Error(f"task {task_id} was given up after {attempts} attempts: the worker stopped")


class _LoopThread:
    """An asyncio event loop on its own thread, one per worker process.

    Jobs wait on it from Celery's thread, so the loop keeps the heartbeat and the connection
    pools alive between jobs, and a soft time limit raised in the waiting thread cancels the
    job cleanly instead of interrupting the loop.
    """

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="sam3-worker-loop", daemon=True
        )
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the loop and wait for its result."""
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()  # e.g. SoftTimeLimitExceeded, raised here while waiting
            raise

    def close(self) -> None:
        """Stop the loop and its thread."""
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()
