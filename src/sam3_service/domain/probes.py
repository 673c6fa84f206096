"""Readiness: is the model loaded and does every backend answer?"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from ..errors import Sam3Error
from .models import ModelState
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
    report = _model_report(services)
    report.checks = checks
    if report.ready and failed:
        report.ready, report.status = False, "degraded"
        report.reason = "; ".join(f"{name}: {state}" for name, state in failed.items())
    return report


def _model_report(services: Services) -> Readiness:
    host = services.models
    if host is None:
        return Readiness(ready=True, status="ready", reason="inference runs in the workers")
    info = host.info
    model = None
    if info is not None:
        model = {
            "name": info.name,
            "version": info.version,
            "random": info.random,
            "device": info.device,
            "dtype": info.dtype,
        }
    return Readiness(
        ready=host.state is ModelState.READY,
        status=host.state.value,
        reason=host.reason,
        model=model,
        load_seconds=host.load_seconds,
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
