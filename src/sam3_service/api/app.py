"""The FastAPI application factory: `uvicorn --factory sam3_service.api.app:create_app`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from .. import __version__
from ..domain.models import ModelHost
from ..domain.services import Services
from ..runtime import open_services
from ..settings import Settings
from .errors import install_error_handlers
from .limits import BodyLimitMiddleware
from .routes import examples, health, segment, shares, tasks

DESCRIPTION = """Promptable segmentation of images with Meta's SAM 3.

Give an image and an English text prompt (`cat`), points or boxes; get back masks (COCO RLE),
boxes and scores. `POST /v1/segment` answers at once; `POST /v1/tasks` queues the work and
returns a `task_id` to poll."""


def create_app(settings: Settings | None = None, *, models: ModelHost | None = None) -> FastAPI:
    """Build the app; every backend opens in the lifespan and closes after it.

    `models` lets a caller share an already loaded model (tests, benchmarks)."""
    settings = settings or Settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s"
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Services]]:
        async with open_services(settings, models=models) as services:
            yield {"services": services}

    app = FastAPI(
        title="SAM 3 service", version=__version__, description=DESCRIPTION, lifespan=lifespan
    )
    install_error_handlers(app)
    # A base64 JSON body is 4/3 of the image, plus room for the prompt fields.
    app.add_middleware(
        BodyLimitMiddleware, max_bytes=settings.max_upload_bytes * 4 // 3 + (1 << 20)
    )
    app.include_router(health.router)
    app.include_router(segment.router, prefix="/v1")
    app.include_router(tasks.router, prefix="/v1")
    app.include_router(shares.router, prefix="/v1")
    app.include_router(tasks.alias_router)
    app.include_router(examples.router, prefix="/v1")
    # Last, so that every API route above wins over a file of the same path.
    app.mount("/", StaticFiles(packages=[("sam3_service.web", "static")], html=True), name="web")
    return app
