"""`sam3-service serve`: the HTTP API (and, without a broker, the model in this process)."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from ..settings import TINY_RANDOM, Settings
from .base import app, console, or_exit

log = logging.getLogger(__name__)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind (SAM3_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (SAM3_PORT).")] = None,
) -> None:
    """Run the HTTP API (and, with no SAM3_BROKER_URL, the model and task workers in-process)."""
    from ..api.app import create_app
    from ..api.server import run
    from ..logs import configure, wants_json
    from ..runtime import check_link_secret, check_listen, choose_model

    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    settings = Settings(**overrides)  # type: ignore[arg-type]
    or_exit(lambda: check_listen(settings, settings.host))
    or_exit(lambda: check_link_secret(settings))
    configure(settings.log_level, settings.log_format)
    json_lines = console.quiet = wants_json(settings.log_format)  # then no line but JSON
    where = f"http://{settings.host}:{settings.port}"
    if settings.broker_url:  # the API loads no model: name none
        spec = settings.model
        workers = "the workers (`sam3-service worker`) run the model"
        console.print(f"[bold]sam3-service[/] API: {workers}")
        if json_lines:
            log.info("serving the API on %s", where)
    else:
        spec = choose_model(settings)
        random_note = "  [bold red](random weights: masks are meaningless)[/]"
        note = random_note if spec == TINY_RANDOM else ""
        console.print(f"[bold]sam3-service[/] model: [cyan]{spec}[/]{note}")
        if json_lines:
            log.info("serving the model %s on %s", spec, where)
    console.print(f"Listening on {where}  (API docs at /docs)")
    settings = settings.model_copy(update={"model": spec})
    run(create_app(settings), settings)
