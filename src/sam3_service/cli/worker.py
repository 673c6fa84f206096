"""`sam3-service worker` and its liveness probe `worker-alive`."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from ..settings import Settings
from .base import app, console, or_exit


@app.command()
def worker(
    pool: Annotated[
        str | None, typer.Option(help="prefork or solo (default: SAM3_WORKER_POOL, prefork).")
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option(min=1, help="Prefork children (default: SAM3_WORKER_CONCURRENCY, 1)."),
    ] = None,
) -> None:
    """Run queued jobs from SAM3_BROKER_URL: each process loads the model once, reports its
    state through SAM3_REDIS_URL, and runs one job at a time. SIGTERM finishes the running job."""
    from ..logs import WORKER_TEXT, configure
    from ..worker import run_worker

    given = {"worker_pool": pool, "worker_concurrency": concurrency}
    settings = Settings().model_copy(update={k: v for k, v in given.items() if v is not None})
    configure(settings.log_level, settings.log_format, text_format=WORKER_TEXT)
    raise typer.Exit(or_exit(lambda: run_worker(settings)))


@app.command("worker-alive")
def worker_alive() -> None:
    """Exit 0 if a worker process on this host beat lately (within 6 heartbeats, at least
    30 s), else 1: the workers' liveness probe. Each beat comes from the loop that runs jobs."""
    settings = Settings()
    limit_s = max(6 * settings.worker_heartbeat_s, 30.0)
    try:
        age_s = time.time() - settings.worker_heartbeat_file.stat().st_mtime
    except FileNotFoundError:
        console.print(f"No heartbeat yet: {settings.worker_heartbeat_file} is missing.")
        raise typer.Exit(1) from None
    if age_s > limit_s:
        console.print(f"The last heartbeat was {age_s:.0f} s ago (limit {limit_s:.0f} s).")
        raise typer.Exit(1)
    console.print(f"Alive: the last heartbeat was {age_s:.1f} s ago.")
