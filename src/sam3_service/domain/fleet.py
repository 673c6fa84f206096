"""The fleet of model workers: their shared state, kept in the cache so that API processes need
no model.

Each worker process reports itself under `workers:id:<worker id>`, with a time to live of a few
heartbeats, and notes itself in an index of the workers. The API reads the live reports: a
`ready` one means some worker serves the model version it names, so `/ready` answers 200, the
result cache is looked up with that version, and tasks of that version are routed to the
workers that hold it (`affinity`). A worker that stops beating simply expires; the cache is
never the truth about tasks, only about who is alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from ..cache.base import Cache
from ..inference.base import ModelInfo
from .models import ModelHost, ModelState

log = logging.getLogger(__name__)

WORKER_KEY = "workers:id:"
INDEX_KEY = "workers:index"  # {worker id: Unix time of its last report}, for the API's metrics
# What the API shows: any ready worker; else a failure, which a worker still loading the same
# model is likely to meet too (both answer 503); else a worker loading.
_STATES = (ModelState.READY, ModelState.FAILED, ModelState.STARTING)


@dataclass
class WorkerReport:
    """What one worker process says about itself at each heartbeat."""

    worker_id: str
    state: ModelState
    reason: str = ""
    model: dict[str, Any] | None = None  # name, version, random, device, dtype
    load_seconds: float | None = None
    jobs: int = 0  # jobs this process ran to an outcome
    inferences: int = 0  # images its engine segmented
    heartbeat_at: float = 0.0  # Unix time
    inference_calls: int = 0  # calls on its inference thread, and their seconds
    inference_seconds: float = 0.0
    route: str | None = None  # the worker whose own queue reaches this process (`QueueRoute`)
    feature_cache_hits: int = 0  # images whose features its cache held (warm)
    feature_cache_misses: int = 0  # images it encoded

    @property
    def version(self) -> str | None:
        """The version of the model it holds, once known."""
        return str(self.model["version"]) if self.model else None

    def to_json(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    @classmethod
    def from_json(cls, data: bytes) -> WorkerReport:
        fields = json.loads(data)
        return cls(**{**fields, "state": ModelState(fields["state"])})


def model_json(info: ModelInfo | None) -> dict[str, Any] | None:
    """The model as reports and `/ready` show it."""
    if info is None:
        return None
    return {
        "name": info.name,
        "version": info.version,
        "random": info.random,
        "device": info.device,
        "dtype": info.dtype,
    }


def report_of(
    worker_id: str, host: ModelHost, *, jobs: int, route: str | None = None
) -> WorkerReport:
    """A report of `host`'s state now; `route`: the worker whose queue reaches this process."""
    hits = misses = 0
    if host.state is ModelState.READY:
        stats = host.engine().stats
        hits, misses = stats.vision_cache_hits, stats.vision_encoder_runs
    return WorkerReport(
        worker_id=worker_id,
        state=host.state,
        reason=host.reason,
        model=model_json(host.info),
        load_seconds=host.load_seconds,
        jobs=jobs,
        inferences=hits + misses,
        heartbeat_at=time.time(),
        inference_calls=host.inferences,
        inference_seconds=host.inference_seconds,
        route=route,
        feature_cache_hits=hits,
        feature_cache_misses=misses,
    )


async def publish(cache: Cache, report: WorkerReport, *, ttl_s: float) -> None:
    """Write a worker's report under its own key, and note it in the index."""
    await cache.set(WORKER_KEY + report.worker_id, report.to_json(), ttl_s)
    await _index(cache, report, ttl_s)


async def _index(cache: Cache, report: WorkerReport, ttl_s: float) -> None:
    """Note the worker in the index, dropping workers silent for longer than `ttl_s`.

    Not atomic: a worker that two concurrent updates drop is back at its next heartbeat."""
    data = await cache.get(INDEX_KEY)
    index: dict[str, float] = json.loads(data) if data else {}
    index = {worker: at for worker, at in index.items() if at >= report.heartbeat_at - ttl_s}
    index[report.worker_id] = report.heartbeat_at
    await cache.set(INDEX_KEY, json.dumps(index).encode(), ttl_s)


async def live_reports(cache: Cache) -> list[WorkerReport]:
    """The latest report of every worker that beat within its time to live (none when the
    cache is unreachable), by worker id."""
    data = await cache.get(INDEX_KEY)
    workers = sorted(json.loads(data)) if data else []
    found = await asyncio.gather(*(cache.get(WORKER_KEY + worker) for worker in workers))
    return [WorkerReport.from_json(report) for report in found if report]  # else expired


async def ready_workers(cache: Cache, version: str | None = None) -> list[WorkerReport]:
    """The live reports of ready workers (only those holding `version`, if given)."""
    return [
        report
        for report in await live_reports(cache)
        if report.state is ModelState.READY and version in (None, report.version)
    ]


async def ready_versions(cache: Cache) -> dict[str, dict[str, Any]]:
    """Each model version some ready worker holds, with its model (as `model_json` shows it)."""
    return {
        report.version: report.model
        for report in await ready_workers(cache)
        if report.version and report.model
    }


async def service_report(cache: Cache) -> WorkerReport | None:
    """The report that best describes the workers: a ready one, else failed, else starting
    (the newest in its state).

    None when no worker reported within its time to live (or the cache is unreachable).
    """
    reports = await live_reports(cache)
    for state in _STATES:
        in_state = [report for report in reports if report.state is state]
        if in_state:
            return max(in_state, key=lambda report: report.heartbeat_at)
    return None


async def ready_model_version(cache: Cache) -> str | None:
    """The model version that most ready workers hold, if any reported one (a tie: the
    smallest version, so that every API replica says the same)."""
    counts = Counter(report.version for report in await ready_workers(cache) if report.version)
    if not counts:
        return None
    return min(counts, key=lambda version: (-counts[version], version))


class Heartbeat:
    """Publishes `report()` on entry and every `interval_s`; removes the worker's key on exit,
    unless its last report was a failure (which the API shows until it expires).

    Reports live for three intervals, so a worker that dies disappears on its own.
    """

    def __init__(
        self, cache: Cache, report: Callable[[], WorkerReport], *, interval_s: float
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be positive, got {interval_s}")
        self.interval_s = interval_s
        self.ttl_s = 3 * interval_s
        self._cache = cache
        self._report = report
        self._task: asyncio.Task[None] | None = None
        self._last: WorkerReport | None = None

    async def beat(self) -> None:
        """Publish the report now."""
        report = self._last = self._report()
        await publish(self._cache, report, ttl_s=self.ttl_s)

    async def __aenter__(self) -> Heartbeat:
        await self.beat()
        self._task = asyncio.create_task(self._beat_forever(), name="sam3-worker-heartbeat")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._last is not None and self._last.state is not ModelState.FAILED:
            await self._cache.delete(WORKER_KEY + self._last.worker_id)

    async def _beat_forever(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.beat()
            except Exception:  # a report that cannot be built must not stop the heartbeat
                log.exception("the worker heartbeat failed")
