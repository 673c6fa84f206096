"""Readiness: can this process serve requests, and with what missing?

A required backend down (task store, blob store, task queue) or no model to run means 503: the
balancer should send requests elsewhere. An optional one down (the shared cache, the rate
limiter: both Redis, both failing open) means 200 `degraded`: requests are still served, only
slower or unchecked, and taking every replica out of rotation for it would stop the service.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

from ..errors import ModelNotReady, Sam3Error
from . import fleet
from .model_set import ModelSet
from .models import ModelState
from .services import Services

_PROBE_TIMEOUT_S = 2.0


@dataclass
class Readiness:
    ready: bool
    status: str  # ready | degraded | starting | failed | unavailable
    reason: str = ""
    model: dict[str, Any] | None = None
    load_seconds: float | None = None
    versions: list[str] | None = None  # the model versions ready here, or in ready workers
    checks: dict[str, str] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)  # what is missing, most important first


async def readiness(services: Services) -> Readiness:
    """Report what stops this process from serving, or what it serves without."""
    required, optional = await asyncio.gather(
        _check(
            task_store=services.store.list(limit=1),
            blob_store=services.blobs.exists("probe/ready"),
            task_queue=services.queue.depth(),
        ),
        _check(
            cache=services.cache.ping(),
            **({"rate_limiter": services.limiter.ping()} if services.limiter else {}),
        ),
    )
    if services.models is not None:
        report = _model_report(services.models)
    elif optional["cache"] != "ok":
        report = Readiness(
            ready=True,
            status=ModelState.READY.value,
            reason="the workers' state is unknown while the cache is down; tasks still queue",
        )
    else:
        report = await _workers_report(services)
    report.checks = {**required, **optional}
    missing = [f"{name}: {state}" for name, state in report.checks.items() if state != "ok"]
    if not report.ready:
        report.reasons = [report.reason, *missing]
    elif missing:
        down = any(state != "ok" for state in required.values())
        report.ready, report.status = not down, "unavailable" if down else "degraded"
        report.reason, report.reasons = "; ".join(missing), missing
    return report


def _model_report(models: ModelSet) -> Readiness:
    """The starting model's state (or, once it is unloaded, the best of the others'), and
    the versions ready here."""
    versions = models.ready_versions()
    try:
        host = models.host()
    except ModelNotReady as exc:  # the starting model left, and several others serve
        state = models.state
        reason = "" if state is ModelState.READY else exc.message
        return Readiness(state is ModelState.READY, state.value, reason, versions=versions)
    return Readiness(
        ready=host.state is ModelState.READY,
        status=host.state.value,
        reason=host.reason,
        model=fleet.model_json(host.info),
        load_seconds=host.load_seconds,
        versions=versions,
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
        versions=sorted(await fleet.ready_versions(services.cache)),
    )


async def _check(**checks: Awaitable[Any]) -> dict[str, str]:
    """Each check's state: `ok`, or why not."""

    async def probe(check: Awaitable[Any]) -> str:
        try:
            await asyncio.wait_for(check, _PROBE_TIMEOUT_S)
        except TimeoutError:
            return f"no answer within {_PROBE_TIMEOUT_S:g} s"
        except Sam3Error as exc:
            return exc.message
        return "ok"

    states = await asyncio.gather(*map(probe, checks.values()))
    return dict(zip(checks, states, strict=True))
