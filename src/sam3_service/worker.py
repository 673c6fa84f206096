"""`sam3-service worker`: a Celery worker whose processes load the model once and run jobs.

Each pool process (the prefork children, or the worker itself with the solo pool) opens its own
`Services` when Celery starts it, like the API's lifespan does: the backends, the model, and a
heartbeat that reports the process's state (starting, ready or failed, the model, counters) in
the shared cache for the API's `/ready`. Jobs are `domain.jobs.run`, on the process's event loop;
the queue's worker (`tasks.celery`) decides on retries.

A worker holds one model version, known before its processes start (the version comes from the
model's content): it takes the tasks of the shared queue, of that version's queue and of its
own queue, which the API routes an image's tasks to (`domain.affinity`); its processes report
the version and the worker's id for that routing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from contextlib import AsyncExitStack, nullcontext
from pathlib import Path

from .domain import jobs
from .domain.fleet import Heartbeat, WorkerReport, report_of
from .domain.models import ModelHost
from .domain.services import Services
from .errors import ConfigError, Sam3Error
from .logs import bind, wants_json
from .model_hub import register_held
from .runtime import choose_model, model_host, open_services
from .settings import Settings
from .tasks import open_task_worker
from .worker_metrics import WorkerMetrics, serve_worker_metrics

log = logging.getLogger(__name__)

# The queue worker's options (`tasks.celery.CeleryWorker`), each the setting named here.
_WORKER_OPTIONS = {
    "queue": "broker_queue",
    "pool": "worker_pool",
    "concurrency": "worker_concurrency",
    "max_attempts": "task_max_attempts",
    "backoff_s": "task_retry_backoff_s",
    "soft_time_limit_s": "task_soft_time_limit_s",
    "time_limit_s": "task_time_limit_s",
}


class ServiceProcess:
    """One worker process's services and model: a `WorkerProcess` for the task queue.
    `route`: the id of the worker whose own queue reaches this process, for its reports."""

    def __init__(self, settings: Settings, model: str, *, route: str | None = None) -> None:
        self.settings = settings
        self.model = model
        self.route = route
        self.worker_id = ""  # host and pid, known once the process is open
        self.jobs = 0
        self._stack = AsyncExitStack()
        self._host: ModelHost | None = None
        self._services: Services | None = None
        self._heartbeat: Heartbeat | None = None
        self.metrics: WorkerMetrics | None = None  # made once open: in the pool process

    @property
    def services(self) -> Services:
        """This process's services, once open. Raises Sam3Error before."""
        if self._services is None:
            raise Sam3Error("this worker process is not open")
        return self._services

    async def open(self) -> None:
        """Open the backends, report `starting`, load the model, report `ready` (or `failed`)."""
        self.worker_id = f"{socket.gethostname()}-{os.getpid()}"
        metrics = self.metrics = WorkerMetrics()
        host = self._host = model_host(self.settings, self.model)
        self._stack.callback(host.close)
        try:
            services = await self._stack.enter_async_context(
                open_services(self.settings, models=host)
            )
            self._services = services
            heartbeat = Heartbeat(
                services.cache, self._report, interval_s=self.settings.worker_heartbeat_s
            )
            self._heartbeat = await self._stack.enter_async_context(heartbeat)
            await asyncio.to_thread(host.load_blocking)
        except BaseException:
            if self._heartbeat is not None:
                await self._heartbeat.beat()  # `failed`, with the reason, for the API to show
            await self._stack.aclose()
            self._services = self._heartbeat = None
            raise
        await heartbeat.beat()
        await register_held(self.settings, host, actor=f"worker {self.worker_id}")
        metrics.model(host)
        log.info("worker %s serves %s", self.worker_id, self.model)

    async def run(self, task_id: str) -> None:
        """Run one job; a transient fault is raised for the queue to retry it or give it up."""
        metrics = self._metrics()
        with bind(task_id=task_id, **await self._log_fields(task_id)):
            try:
                await jobs.run(self.services, task_id)
            except Sam3Error:
                metrics.job_outcome("retry")
                raise
            record = await self.services.store.get(task_id)
            log.info("job %s: %s", task_id, record.status.value)
        self.jobs += 1
        metrics.job_done(record)
        if self._host is not None:
            metrics.model(self._host)
        if self._heartbeat is not None:
            await self._heartbeat.beat()

    async def give_up(self, task_id: str, error: Sam3Error) -> None:
        """Fail the task for good."""
        await jobs.give_up(self.services, task_id, error)
        self._metrics().job_outcome("failed")

    async def aclose(self) -> None:
        """Stop reporting, close the backends and free the model."""
        await self._stack.aclose()

    async def _log_fields(self, task_id: str) -> dict[str, str | None]:
        """The owner of the task and the version of the model, for the job's log lines."""
        try:
            owner: str | None = (await self.services.store.get(task_id)).owner
        except Sam3Error:
            owner = None  # the job itself reports a missing task
        info = self._host.info if self._host is not None else None
        return {"owner": owner, "model_version": info.version if info else None}

    def _metrics(self) -> WorkerMetrics:
        if self.metrics is None:
            raise Sam3Error("this worker process is not open")
        return self.metrics

    def _report(self) -> WorkerReport:
        assert self._host is not None
        _touch(self.settings.worker_heartbeat_file)  # for the liveness probe: this loop runs
        return report_of(self.worker_id, self._host, jobs=self.jobs, route=self.route)


def _touch(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    except OSError as exc:
        log.warning("cannot touch the heartbeat file %s: %s", path, exc)


def run_worker(settings: Settings) -> int:
    """Consume SAM3_BROKER_URL until stopped; returns the exit status. Raises ConfigError."""
    if not settings.broker_url:
        raise ConfigError("a worker needs a broker: set SAM3_BROKER_URL=amqp://...")
    spec = choose_model(settings)
    route, version = f"{socket.gethostname()}-{os.getpid()}", _model_version(settings, spec)
    process = ServiceProcess(settings, spec, route=route)
    options = {option: getattr(settings, name) for option, name in _WORKER_OPTIONS.items()}
    worker = open_task_worker(
        settings.broker_url,
        process,
        version=version,
        worker_id=route,
        wait_s=settings.affinity_wait_s,
        **options,
    )
    if not settings.model_processes:  # each of the worker's processes loads its own model
        process.settings = settings.model_copy(update={"model_processes": worker.processes})
    port = settings.worker_metrics_port
    with serve_worker_metrics(settings.host, port) if port else nullcontext():
        return worker.run(
            loglevel=settings.log_level.upper(), quiet=wants_json(settings.log_format)
        )


def _model_version(settings: Settings, spec: str) -> str | None:
    """The version of the model `spec` names, from its content; None if it cannot be found
    (the worker's processes then fail to load it, and say why)."""
    from .inference import resolve_model  # torch loads with it

    try:
        return resolve_model(spec, settings.models_dir).version
    except ConfigError:
        return None
