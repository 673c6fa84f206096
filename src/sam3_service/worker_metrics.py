"""The workers' Prometheus metrics, in prometheus-client's multiprocess mode.

`serve_worker_metrics` (in the worker's main process, before the pool starts) points
PROMETHEUS_MULTIPROC_DIR at a fresh folder and serves, on SAM3_WORKER_METRICS_PORT, the sum over
every pool process of what `WorkerMetrics` records there, with the GPUs read through NVML.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Summary,
    multiprocess,
    values,
)
from prometheus_client.exposition import start_http_server

from .domain.models import ModelHost, ModelState
from .inference.base import EngineStats
from .inference.nvml import GpuCollector
from .tasks.base import TaskRecord

log = logging.getLogger(__name__)

STAGE_BUCKETS_S = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class WorkerMetrics:
    """What one worker process records: stage times, outcomes, model load, feature cache."""

    def __init__(self) -> None:
        # Its own registry: in multiprocess mode the files are the truth, read by the server.
        registry = self.registry = CollectorRegistry()
        self.stage_seconds = Histogram(
            "sam3_worker_inference_seconds",
            "Time of each stage of the jobs that this worker ran (decode, encoders, masks...).",
            ["stage"],
            buckets=STAGE_BUCKETS_S,
            registry=registry,
        )
        self.tasks = Counter(
            "sam3_worker_tasks",
            "Jobs run, by outcome: succeeded, failed, cancelled, or retry (a transient fault).",
            ["outcome"],
            registry=registry,
        )
        self.model_load_seconds = Gauge(
            "sam3_worker_model_load_seconds",
            "How long the model took to load, in the slowest process.",
            multiprocess_mode="max",
            registry=registry,
        )
        self.cache_hits = Counter(
            "sam3_worker_feature_cache_hits",
            "Images whose features came from the feature cache.",
            registry=registry,
        )
        self.cache_misses = Counter(
            "sam3_worker_feature_cache_misses",
            "Images that ran the vision encoder.",
            registry=registry,
        )
        # The API's names for the same things, which the alerts read (an API with workers
        # hosts no model).
        self.model_state = Gauge(
            "sam3_model_state",
            "1 for the model's current state (in any process of the worker).",
            ["state"],
            multiprocess_mode="max",
            registry=registry,
        )
        self.inference_seconds = Summary(
            "sam3_inference_seconds",
            "Time the model spent on inferences in this worker.",
            registry=registry,
        )
        self._seen = EngineStats()
        self._seen_inferences = (0, 0.0)

    def job_done(self, record: TaskRecord) -> None:
        """Count a job that reached an outcome, with its stage times."""
        self.tasks.labels(record.status.value).inc()
        for stage, ms in record.timings_ms.items():
            self.stage_seconds.labels(stage).observe(ms / 1000)

    def job_outcome(self, outcome: str) -> None:
        self.tasks.labels(outcome).inc()

    def model(self, host: ModelHost) -> None:
        """Record the model's state, load time and inferences so far."""
        for state in ModelState:
            self.model_state.labels(state.value).set(float(host.state is state))
        if host.load_seconds is not None:
            self.model_load_seconds.set(host.load_seconds)
        count, seconds = self._seen_inferences
        for _ in range(host.inferences - count):  # a summary adds one observation at a time
            self.inference_seconds.observe(
                (host.inference_seconds - seconds) / (host.inferences - count)
            )
        self._seen_inferences = (host.inferences, host.inference_seconds)
        if host.state is ModelState.READY:
            self.engine_stats(host.engine().stats)

    def engine_stats(self, stats: EngineStats) -> None:
        """Count the feature cache's hits and misses since the last call."""
        self.cache_hits.inc(stats.vision_cache_hits - self._seen.vision_cache_hits)
        self.cache_misses.inc(stats.vision_encoder_runs - self._seen.vision_encoder_runs)
        self._seen = EngineStats(**vars(stats))


@contextmanager
def serve_worker_metrics(host: str, port: int) -> Iterator[None]:
    """Serve every process's metrics on `host`:`port` while the block runs (the pool processes
    are forked inside it); removes their files after."""
    folder = tempfile.mkdtemp(prefix="sam3-worker-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
    # The value class is chosen when prometheus_client is imported: choose again, now.
    values.ValueClass = values.get_value_class()
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=folder)
    registry.register(GpuCollector())
    server, thread = start_http_server(port, addr=host, registry=registry)
    log.info("worker metrics on http://%s:%d/metrics", host, port)
    try:
        yield
    finally:
        server.shutdown()
        thread.join(5)
        shutil.rmtree(folder, ignore_errors=True)
