"""Prometheus metrics at `/metrics`, in a registry of the app's own (no process-wide state).

HTTP requests are counted by `MetricsMiddleware` as they end; the service's state (queue depth,
model state, inference time, backend failures) is read at each scrape.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterator
from typing import cast

from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector
from starlette.routing import Mount, NoMatchFound
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..domain import fleet
from ..domain.models import ModelState
from ..domain.services import Services
from ..errors import Sam3Error
from ..inference.nvml import GpuCollector
from .deps import ServicesDep
from .hub_metrics import hub_families

LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
# Route labels besides templates: a mounted app (the web page's files) answered, or nothing
# was routed (a 413 refused while the body came in).
MOUNTED = "mounted"
UNMATCHED = "unmatched"
_QUEUE_PROBE_S = 2.0

router = APIRouter(tags=["probes"])


class Metrics:
    """One app's metrics and the registry that exposes them."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "sam3_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "sam3_http_request_duration_seconds",
            "Time from a request's arrival to the end of its response.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self._state = _StateCollector()
        self.registry.register(self._state)
        ProcessCollector(registry=self.registry)
        self.registry.register(GpuCollector())  # a model in this process may use a GPU

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request."""
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    async def render(self, services: Services) -> bytes:
        """The Prometheus text exposition, with the service's state read now."""
        self._state.families = await _state_families(services)
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Count every HTTP request by method, route template (not raw path) and status."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            elapsed = time.perf_counter() - started
            self.metrics.observe(scope["method"], route_template(scope), status, elapsed)


def install_metrics(app: FastAPI) -> None:
    """Count the app's requests and serve `/metrics` (call before mounting the static files)."""
    metrics = Metrics()
    app.state.metrics = metrics
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.include_router(router)


def route_template(scope: Scope) -> str:
    """The route label of a request: the matched route's path with its router prefixes (such as
    `/v1/tasks/{task_id}`, never the raw path), MOUNTED or UNMATCHED."""
    route = scope.get("route")
    if isinstance(route, Mount) or (route is None and "endpoint" in scope):
        return MOUNTED
    if route is None:
        return UNMATCHED
    template: str = route.path
    try:
        tail = str(route.url_path_for(route.name, **scope.get("path_params", {})))
    except NoMatchFound:
        return template
    path: str = scope["path"]
    return path.removesuffix(tail) + template if path.endswith(tail) else template


@router.get("/metrics", response_class=Response)
async def metrics_text(request: Request, services: ServicesDep) -> Response:
    """Prometheus metrics: requests and latency by route, inference time, queue depth, model
    state, cache and rate limiter failures."""
    metrics = cast(Metrics, request.app.state.metrics)
    return Response(await metrics.render(services), media_type=CONTENT_TYPE_LATEST)


class _StateCollector(Collector):
    """Yields the families read at the start of the current scrape."""

    def __init__(self) -> None:
        self.families: list[Metric] = []

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


async def _state_families(services: Services) -> list[Metric]:
    families: list[Metric] = [
        GaugeMetricFamily(
            "sam3_queue_depth",
            "Task ids waiting for a worker (NaN when the queue cannot be reached).",
            value=await _queue_depth(services),
        ),
        CounterMetricFamily(
            "sam3_cache_failures",
            "Cache calls answered as a miss because the cache failed.",
            value=getattr(services.cache, "failures", 0),  # the in-process cache never fails
        ),
    ]
    if services.limiter is not None:
        families.append(
            CounterMetricFamily(
                "sam3_rate_limiter_failures",
                "Requests let through unchecked because the rate limiter failed.",
                value=services.limiter.failures,
            )
        )
    families.extend(await _model_families(services))
    families.extend(hub_families(services.observer, services.shadow))
    return families


async def _model_families(services: Services) -> list[Metric]:
    """The model's state, inference time and feature-cache hits: this process's model, else
    the workers', as their heartbeats report them (state: the best of any worker; the rest:
    summed over them)."""
    if services.models is not None:
        host = services.models
        current: ModelState | None = host.state
        calls, seconds = host.inferences, host.inference_seconds
        ready = [held.engine().stats for held in host.versions().values() if held.info]
        hits = sum(stats.vision_cache_hits for stats in ready)
        misses = sum(stats.vision_encoder_runs for stats in ready)
    else:
        reports = await fleet.live_reports(services.cache)
        best = await fleet.service_report(services.cache)
        current = best.state if best else None
        calls = sum(report.inference_calls for report in reports)
        seconds = sum(report.inference_seconds for report in reports)
        hits = sum(report.feature_cache_hits for report in reports)
        misses = sum(report.feature_cache_misses for report in reports)
    state = GaugeMetricFamily(
        "sam3_model_state", "1 for the model's current state.", labels=["state"]
    )
    for candidate in ModelState:
        state.add_metric([candidate.value], float(current is candidate))
    inference = SummaryMetricFamily(
        "sam3_inference_seconds",
        "Time the model spent on inferences (in this process, or summed over the live workers).",
        count_value=calls,
        sum_value=seconds,
    )
    cache = [
        CounterMetricFamily(
            f"sam3_feature_cache_{name}",
            f"Images whose features {what} (in this process, or summed over the live workers).",
            value=value,
        )
        for name, what, value in (
            ("hits", "the image-feature cache held (a warm prompt)", hits),
            ("misses", "the vision encoder computed", misses),
        )
    ]
    return [state, inference, *cache]


async def _queue_depth(services: Services) -> float:
    try:
        return float(await asyncio.wait_for(services.queue.depth(), _QUEUE_PROBE_S))
    except (Sam3Error, TimeoutError):
        return math.nan
