"""Probes: `/health` (the process is alive) and `/ready` (it can serve requests)."""

from __future__ import annotations

from fastapi import APIRouter, Request
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
async def ready(request: Request, services: ServicesDep) -> JSONResponse:
    """Readiness: 200 once this replica can serve (`degraded`, with the reasons, while an
    optional backend such as Redis is down); 503 with why while it cannot, or is stopping."""
    if request.app.state.stopping:  # set by api.server on SIGTERM
        body = Readiness(status="stopping", reason="shutting down", reasons=["shutting down"])
        return JSONResponse(body.model_dump(), status_code=503)
    report = await probes.readiness(services)
    body = Readiness.model_validate(report, from_attributes=True)
    return JSONResponse(body.model_dump(), status_code=200 if report.ready else 503)
