"""The FastAPI application factory: `uvicorn --factory sam3_service.api.app:create_app`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles

from .. import __version__, logs
from ..domain.models import ModelHost
from ..domain.services import Services
from ..runtime import check_link_secret, open_services
from ..settings import Settings
from .docs import install_docs
from .errors import install_error_handlers
from .headers import SecurityHeadersMiddleware
from .limits import SMALL_BODY_BYTES, BodyLimitMiddleware
from .metrics import install_metrics
from .request_id import install_request_ids
from .routes import admin, examples, health, segment, shares, tasks
from .routes import models as model_routes
from .security import AuthMiddleware, authenticate

DESCRIPTION = """Promptable segmentation of images with Meta's SAM 3.

Give an image and an English text prompt (`cat`), points or boxes; get back masks (COCO RLE),
boxes and scores. `POST /v1/segment` answers at once; `POST /v1/tasks` queues the work and
returns a `task_id` to poll."""


def create_app(settings: Settings | None = None, *, models: ModelHost | None = None) -> FastAPI:
    """Build the app; every backend opens in the lifespan and closes after it.

    `models` lets a caller share an already loaded model (tests, benchmarks)."""
    settings = settings or Settings()
    check_link_secret(settings)
    logs.configure(settings.log_level, settings.log_format)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Services]]:
        async with open_services(settings, models=models) as services:
            yield {"services": services}

    app = FastAPI(
        title="SAM 3 service",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # install_docs serves them, without a CDN
        redoc_url=None,
        dependencies=[Depends(authenticate)],  # API key and rate limit, except on public paths
    )
    app.state.stopping = False  # True from a SIGTERM on (`api.server`): `/ready` answers 503
    install_error_handlers(app)
    install_docs(app)
    # Bodies are small, but for the two routes that take a file: a base64 JSON body is 4/3 of
    # the file, plus 1 MiB of room (its other fields stay under SMALL_BODY_BYTES, see inputs.py).
    # Only POST /v1/tasks takes videos.
    image_body = settings.max_upload_bytes * 4 // 3 + (1 << 20)
    video_body = max(settings.max_upload_bytes, settings.max_video_bytes) * 4 // 3 + (1 << 20)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=SMALL_BODY_BYTES,
        larger={
            "/v1/segment": (image_body, "SAM3_MAX_UPLOAD_BYTES"),
            "/v1/tasks": (video_body, "SAM3_MAX_VIDEO_BYTES"),
        },
    )
    app.add_middleware(AuthMiddleware)  # outside the body limit: a key is checked first
    app.include_router(health.router)
    app.include_router(segment.router, prefix="/v1")
    app.include_router(tasks.router, prefix="/v1")
    app.include_router(shares.router, prefix="/v1")
    app.include_router(tasks.alias_router)
    app.include_router(examples.router, prefix="/v1")
    app.include_router(admin.router, prefix="/v1")
    app.include_router(model_routes.router, prefix="/v1")
    app.include_router(model_routes.admin_router, prefix="/v1")
    if settings.metrics_enabled:
        install_metrics(app)
    app.add_middleware(SecurityHeadersMiddleware)
    install_request_ids(app)  # outermost, so that every answer carries the id
    # Last, so that every API route above wins over a file of the same path.
    app.mount("/", StaticFiles(packages=[("sam3_service.web", "static")], html=True), name="web")
    return app
