"""Probes: `/health` (the process is alive) and `/ready` (it can serve requests)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from ...domain import probes
from ..deps import ServicesDep
from ..schemas import Health, Readiness

router = APIRouter(tags=["probes"])


@router.get("/health")
async def health() -> Health:
    """Liveness: answers 200 while the process runs, even while the model loads."""
    return Health(status="ok")


@router.get("/ready", response_model=Readiness, responses={503: {"model": Readiness}})
async def ready(services: ServicesDep) -> JSONResponse:
    """Readiness: 200 once the model is loaded and every backend answers, else 503 with why."""
    report = await probes.readiness(services)
    body = Readiness(
        status=report.status,
        reason=report.reason,
        model=report.model,
        load_seconds=report.load_seconds,
        checks=report.checks,
    )
    return JSONResponse(body.model_dump(), status_code=200 if report.ready else 503)
