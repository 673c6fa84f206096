"""Running the app under uvicorn, with limits on clients and a graceful stop.

On SIGTERM the app turns not-ready first (`/ready` answers 503 `stopping`) and keeps serving for
SAM3_SHUTDOWN_DRAIN_S, so that a balancer stops sending it requests; then uvicorn stops as it
always does: it closes its port, finishes the requests in flight and exits. SIGINT (Ctrl+C) and
a second SIGTERM stop at once.
"""

from __future__ import annotations

import logging
import signal
import time
from types import FrameType
from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.config import LOGGING_CONFIG

from ..logs import wants_json
from ..settings import Settings

log = logging.getLogger(__name__)


def http_limits(settings: Settings) -> dict[str, Any]:
    """uvicorn's limits on slow and greedy clients (nginx in front adds timeouts on headers
    and bodies). h11, whose header size limit uvicorn applies (httptools has none)."""
    return {
        "http": "h11",
        "h11_max_incomplete_event_size": settings.http_max_header_bytes,
        "timeout_keep_alive": settings.http_keep_alive_s,
        "limit_concurrency": settings.http_max_connections,
    }


def run(app: FastAPI, settings: Settings) -> None:
    """Serve `app` on SAM3_HOST:SAM3_PORT until a signal stops it."""
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        log_config=None if wants_json(settings.log_format) else LOGGING_CONFIG,
        **http_limits(settings),
    )
    DrainingServer(config, app, drain_s=settings.shutdown_drain_s).run()


class DrainingServer(uvicorn.Server):
    """A uvicorn server that, on its first SIGTERM, marks `app` as stopping and waits `drain_s`
    (still serving) before it stops."""

    def __init__(self, config: uvicorn.Config, app: FastAPI, *, drain_s: float) -> None:
        super().__init__(config)
        self.app = app
        self.drain_s = drain_s
        self._stop_at: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig != signal.SIGTERM or self._stop_at is not None:
            super().handle_exit(sig, frame)
            return
        self.app.state.stopping = True
        self._stop_at = time.monotonic() + self.drain_s
        log.info("SIGTERM: not ready; stopping in %g s, after the requests in flight", self.drain_s)

    async def on_tick(self, counter: int) -> bool:
        if self._stop_at is not None and time.monotonic() >= self._stop_at and not self.should_exit:
            super().handle_exit(signal.SIGTERM, None)
        return await super().on_tick(counter)
