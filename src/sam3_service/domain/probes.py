"""Readiness: is the model loaded and does every backend answer?"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from ..errors import Sam3Error
from . import fleet
from .models import ModelHost, ModelState
from .services import Services

_PROBE_TIMEOUT_S = 2.0


@dataclass
class Readiness:
    ready: bool
    status: str  # ready | starting | failed | degraded
    reason: str = ""
    model: dict[str, Any] | None = None
    load_seconds: float | None = None
    checks: dict[str, str] = field(default_factory=dict)


async def readiness(services: Services) -> Readiness:
    """Report what stops this process from serving, most important first."""
    checks = await _check_backends(services)
    failed = {name: state for name, state in checks.items() if state != "ok"}
    host = services.models
    report = _model_report(host) if host is not None else await _workers_report(services)
    report.checks = checks
    if report.ready and failed:
        report.ready, report.status = False, "degraded"
        report.reason = "; ".join(f"{name}: {state}" for name, state in failed.items())
    return report


def _model_report(host: ModelHost) -> Readiness:
    return Readiness(
        ready=host.state is ModelState.READY,
        status=host.state.value,
        reason=host.reason,
        model=fleet.model_json(host.info),
        load_seconds=host.load_seconds,
    )


async def _workers_report(services: Services) -> Readiness:
    """Where the model runs in workers: their shared state, as they report it in the cache."""
    report = await fleet.service_report(services.cache)
    if report is None:
        return Readiness(
            ready=False,
            status=ModelState.STARTING.value,
            reason="no model worker has reported: start one with `sam3-service worker` "
            "(it reports through SAM3_REDIS_URL, which this process must share)",
        )
    reason = report.reason
    if report.state is ModelState.READY:
        reason = f"inference runs in the workers ({report.worker_id} reported last)"
    return Readiness(
        ready=report.state is ModelState.READY,
        status=report.state.value,
        reason=reason,
        model=report.model,
        load_seconds=report.load_seconds,
    )


async def _check_backends(services: Services) -> dict[str, str]:
    async def probe(name: str, check: Any) -> tuple[str, str]:
        try:
            await asyncio.wait_for(check, _PROBE_TIMEOUT_S)
        except TimeoutError:
            return name, f"no answer within {_PROBE_TIMEOUT_S:g} s"
        except Sam3Error as exc:
            return name, exc.message
        return name, "ok"

    results = await asyncio.gather(
        probe("task_store", services.store.list(limit=1)),
        probe("blob_store", services.blobs.exists("probe/ready")),
        probe("task_queue", services.queue.depth()),
    )
    return dict(results)
