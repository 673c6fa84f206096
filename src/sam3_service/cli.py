"""The `sam3-service` command: serve the API, segment files, build the development model."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .auth import Scope
from .domain.params import SegmentParams
from .errors import Sam3Error
from .settings import TINY_RANDOM, Settings

if TYPE_CHECKING:  # the heavy imports (torch) wait until a command needs them
    from .auth import ApiKey, KeyStore
    from .batch import Runner, VideoRequest

app = typer.Typer(
    help="Serve Meta's SAM 3 for promptable segmentation of images.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
console = Console(stderr=True)
T = TypeVar("T")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind (SAM3_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (SAM3_PORT).")] = None,
) -> None:
    """Run the HTTP API (and, with no SAM3_BROKER_URL, the model and task workers in-process)."""
    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    from .api.app import create_app
    from .api.request_id import configure_logging
    from .logs import wants_json
    from .runtime import check_link_secret, check_listen, choose_model

    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    settings = Settings(**overrides)  # type: ignore[arg-type]
    _or_exit(lambda: check_listen(settings, settings.host))
    _or_exit(lambda: check_link_secret(settings))
    configure_logging(settings.log_level, settings.log_format)
    json_lines = console.quiet = wants_json(settings.log_format)  # then no line but JSON
    where = f"http://{settings.host}:{settings.port}"
    if settings.broker_url:  # the API loads no model: name none
        spec = settings.model
        console.print(
            "[bold]sam3-service[/] API: the workers (`sam3-service worker`) run the model"
        )
        if json_lines:
            logging.getLogger(__name__).info("serving the API on %s", where)
    else:
        spec = choose_model(settings)
        random_note = (
            "  [bold red](random weights: masks are meaningless)[/]" if spec == TINY_RANDOM else ""
        )
        console.print(f"[bold]sam3-service[/] model: [cyan]{spec}[/]{random_note}")
        if json_lines:
            logging.getLogger(__name__).info("serving the model %s on %s", spec, where)
    console.print(f"Listening on http://{settings.host}:{settings.port}  (API docs at /docs)")
    uvicorn.run(
        create_app(settings.model_copy(update={"model": spec})),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        **http_limits(settings),
        log_config=None if json_lines else LOGGING_CONFIG,  # JSON: uvicorn's lines through ours
    )


def http_limits(settings: Settings) -> dict[str, Any]:
    """uvicorn's limits on slow and greedy clients (nginx in front adds timeouts on headers
    and bodies). h11, whose header size limit uvicorn applies (httptools has none)."""
    return {
        "http": "h11",
        "h11_max_incomplete_event_size": settings.http_max_header_bytes,
        "timeout_keep_alive": settings.http_keep_alive_s,
        "limit_concurrency": settings.http_max_connections,
    }


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
    from .logs import configure
    from .worker import run_worker

    given = {"worker_pool": pool, "worker_concurrency": concurrency}
    settings = Settings().model_copy(update={k: v for k, v in given.items() if v is not None})
    text_format = "%(levelname)s %(processName)s %(name)s: %(message)s"
    configure(settings.log_level, settings.log_format, text_format=text_format)
    raise typer.Exit(_or_exit(lambda: run_worker(settings)))


@app.command("worker-alive")
def worker_alive() -> None:
    """Exit 0 if a worker process on this host beat lately (within 6 heartbeats, at least
    30 s), else 1: the workers' liveness probe. Each beat comes from the loop that runs jobs."""
    import time

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


@app.command("segment")
def segment_command(
    files: Annotated[
        list[Path], typer.Argument(exists=True, dir_okay=False, help="Image or video files.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the outputs.")],
    prompt: Annotated[str | None, typer.Option("--prompt", "-p", help="English text.")] = None,
    box: Annotated[
        list[str] | None, typer.Option(help="x0,y0,x1,y1[,neg] in pixels; repeatable.")
    ] = None,
    point: Annotated[list[str] | None, typer.Option(help="x,y[,neg]; repeatable.")] = None,
    mode: Annotated[str, typer.Option(help="auto | concept | interactive")] = "auto",
    score_threshold: Annotated[float | None, typer.Option(help="Drop objects under it.")] = None,
    url: Annotated[
        str | None, typer.Option(help="A running service (e.g. http://127.0.0.1:8000).")
    ] = None,
    api_key: Annotated[str | None, typer.Option(envvar="SAM3_API_KEY", help="For --url.")] = None,
    frame_stride: Annotated[int, typer.Option(help="Videos: process every n-th frame.")] = 1,
    max_frames: Annotated[
        int | None, typer.Option(help="Videos: process at most this many frames.")
    ] = None,
    prompt_frame: Annotated[
        int, typer.Option(help="Videos: the frame that --point or --box refer to.")
    ] = 0,
) -> None:
    """Segment images and write, per image, the result JSON, a PNG per object and an overlay;
    track through videos and write, per video, a summary, a JSON line per frame and an MP4."""
    from .batch import LocalRunner, RemoteRunner, VideoRequest, is_video_file
    from .domain.video import VideoOptions

    try:
        params = SegmentParams(
            prompt=prompt,
            boxes=[_parse_coords(b, 4, "--box") for b in box or []],
            points=[_parse_coords(p, 2, "--point") for p in point or []],
            mode=mode,  # type: ignore[arg-type]
            score_threshold=score_threshold,
        )
        options = VideoOptions(
            frame_stride=frame_stride, max_frames=max_frames, prompt_frame=prompt_frame
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    videos = [path for path in files if is_video_file(path)]
    images = [path for path in files if path not in videos]
    runner: Runner
    if url:
        runner = RemoteRunner(url, api_key=api_key)
    else:
        local = LocalRunner(_local_settings())
        with console.status("Loading the model..."):
            described = _or_exit(local.load)
        console.print(f"Model: {described}")
        runner = local
    failures = 0
    try:
        if images:
            failures += _run_with_progress(runner, images, params, out)
        for path in videos:
            failures += _track_with_progress(runner, path, VideoRequest(params, options), out)
    finally:
        runner.close()
    if failures:
        console.print(f"[bold red]{failures} of {len(files)} files failed.[/]")
        raise typer.Exit(1)


@app.command("build-tiny-model")
def build_tiny_model_command(
    folder: Annotated[Path, typer.Argument(help="Where to write the model.")],
    size: Annotated[str, typer.Option(help="tiny | mid | full")] = "tiny",
    seed: Annotated[int, typer.Option(help="Random seed of the weights.")] = 0,
) -> None:
    """Write a randomly initialised SAM 3 (weights, config, processor, tokenizer) to FOLDER,
    loadable with SAM3_MODEL=FOLDER. For development and tests: its masks are meaningless."""
    from .inference import build_tiny_model

    with console.status(f"Building a {size} random SAM 3..."):
        path = build_tiny_model(folder, size=size, seed=seed)  # type: ignore[arg-type]
    console.print(f"Wrote {path}. Serve it with: SAM3_MODEL={path} sam3-service serve")


@app.command("backup")
def backup_command(
    folder: Annotated[Path, typer.Argument(help="A new or empty folder for the backup.")],
    blobs: Annotated[
        bool, typer.Option(help="Copy the stored objects too (--no-blobs: their checksums only).")
    ] = True,
    timestamped: Annotated[
        bool, typer.Option(help="Write into a new FOLDER/<UTC time> instead (for schedules).")
    ] = False,
) -> None:
    """Back up the task database (tasks, API keys: every table, from one snapshot) and a
    manifest of the stored objects with their SHA-256, and by default the objects themselves."""
    from datetime import UTC, datetime

    from .backup import backup

    if timestamped:
        folder = folder / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    report = _or_exit(lambda: asyncio.run(backup(Settings(), folder, blobs=blobs)))
    console.print(report.describe("Backed up") + f" into {folder}")


@app.command("restore")
def restore_command(
    folder: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="A backup.")],
) -> None:
    """Restore a backup into the empty database of SAM3_DATABASE_URL (then migrated to this
    version's schema) and the store of SAM3_STORAGE_URL. Refuses a backup of a newer schema."""
    from .backup import restore

    report = _or_exit(lambda: asyncio.run(restore(Settings(), folder)))
    console.print(report.describe("Restored") + f" from {folder}")
    if report.blobs_missing:
        console.print("[bold red]Missing:[/] " + " ".join(report.blobs_missing[:20]))
        raise typer.Exit(1)


keys_app = typer.Typer(
    help="Make, list and revoke API keys (kept in SAM3_DATABASE_URL, shared with the API).",
    no_args_is_help=True,
)
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def keys_create(
    scope: Annotated[
        Scope, typer.Option(help="user: its owner's tasks; admin: every task and the keys.")
    ],
    owner: Annotated[
        str | None, typer.Option(help="Owner of the tasks made with it (default: the key's id).")
    ] = None,
    rate: Annotated[
        str | None,
        typer.Option(help="Requests per minute, as N or N/min (SAM3_DEFAULT_RATE_PER_MIN)."),
    ] = None,
) -> None:
    """Make an API key and print it on stdout: it is shown only this once."""
    per_min = _parse_rate(rate)
    new = _with_keys(lambda keys: keys.create(scope=scope, owner=owner, rate_per_min=per_min))
    console.print(
        f"Made {new.key.scope.value} key [bold]{new.key.id}[/] for [cyan]{new.key.owner}[/] "
        f"({new.key.rate_per_min} requests/min). Keep it now; it cannot be shown again:"
    )
    typer.echo(new.secret)


@keys_app.command("list")
def keys_list(
    include_revoked: Annotated[bool, typer.Option("--all", help="Also list revoked keys.")] = False,
) -> None:
    """List the API keys (never their secrets)."""
    listed = _with_keys(lambda keys: keys.list(include_revoked=include_revoked))
    table = Table(box=box.SIMPLE_HEAD)
    for column in ("id", "owner", "scope", "rate/min", "created", "revoked"):
        table.add_column(column, no_wrap=column != "owner", overflow="fold")
    for key in listed:
        table.add_row(
            key.id,
            key.owner,
            key.scope.value,
            str(key.rate_per_min),
            f"{key.created_at:%Y-%m-%d %H:%M}",
            f"{key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "",
        )
    Console().print(table)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (see `keys list`).")],
) -> None:
    """Revoke an API key: every API process refuses it from its next request."""
    key: ApiKey = _with_keys(lambda keys: keys.revoke(key_id))
    console.print(f"Revoked key [bold]{key.id}[/] of [cyan]{key.owner}[/].")


def _with_keys(call: Callable[[KeyStore], Awaitable[T]]) -> T:
    """Run `call` on the key store of SAM3_DATABASE_URL; exit 1 on our errors."""
    from .runtime import open_keys

    settings = Settings()
    console.print(f"Key database: {_database_label(settings)}", soft_wrap=True, markup=False)

    async def run() -> T:
        async with open_keys(settings) as keys:
            return await call(keys)

    return _or_exit(lambda: asyncio.run(run()))


def _local_settings() -> Settings:
    """Settings for segmenting in this process: as in `make serve`, missing weights fall back
    (loudly) to the tiny random model, unless SAM3_MODEL_FALLBACK_TO_TINY is set."""
    settings = Settings()
    if "model_fallback_to_tiny" in settings.model_fields_set:
        return settings
    return settings.model_copy(update={"model_fallback_to_tiny": True})


def _database_label(settings: Settings) -> str:
    """The database URL that `keys` commands use, its password hidden, and where it comes from:
    a server only sees keys made in its own database."""
    from sqlalchemy.engine import make_url

    url = make_url(settings.resolved_database_url).render_as_string(hide_password=True)
    origin = "SAM3_DATABASE_URL" if settings.database_url else "SAM3_DATA_DIR/sam3.db"
    return f"{url} (from {origin})"


def _parse_rate(text: str | None) -> int | None:
    if text is None:
        return None
    number = text.strip().lower().removesuffix("/min").strip()
    if not number.isdigit() or int(number) < 1:
        raise typer.BadParameter(f"--rate takes N or N/min with N >= 1, got {text!r}")
    return int(number)


def _run_with_progress(runner: Runner, images: list[Path], params: SegmentParams, out: Path) -> int:
    """Segment the images with a progress bar; returns how many failed (each one is said)."""
    from .batch import Failed, segment_files

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    failures = 0
    with Progress(*columns, console=console, disable=len(images) < 2) as progress:
        bar = progress.add_task("Segmenting", total=len(images))
        for done in segment_files(runner, images, params, out):
            progress.advance(bar)
            if isinstance(done, Failed):
                failures += 1
                console.print(f"[bold red]Error:[/] {done.source.name}: {done.message}")
            else:
                console.print(f"{done.source.name}: {done.objects} objects -> {out}")
    return failures


def _track_with_progress(runner: Runner, path: Path, request: VideoRequest, out: Path) -> int:
    """Track through one video with a progress bar of its frames; returns 1 if it failed."""
    from .batch import VideoFiles

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("frames"),
        TimeElapsedColumn(),
    )
    out.mkdir(parents=True, exist_ok=True)
    with Progress(*columns, console=console) as progress:
        bar = progress.add_task(path.name, total=None)

        def advance(done: int, total: int) -> None:
            progress.update(bar, completed=done, total=total)

        try:
            summary = runner.track_video(path, request, VideoFiles.named(out, path.stem), advance)
        except Sam3Error as exc:
            console.print(f"[bold red]Error:[/] {path.name}: {exc.message}")
            return 1
    tracks, frames = len(summary["tracks"]), summary["frames_processed"]
    console.print(f"{path.name}: {tracks} objects tracked over {frames} frames -> {out}")
    return 0


def _parse_coords(text: str, count: int, option: str) -> list[float]:
    parts = [p.strip() for p in text.split(",")]
    negative = len(parts) == count + 1 and parts[-1].lower() in ("neg", "0", "-")
    if negative:
        parts = parts[:-1]
    if len(parts) != count:
        raise typer.BadParameter(f"{option} takes {count} numbers separated by commas[, neg]")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise typer.BadParameter(f"{option} {text!r}: not numbers") from None
    return [*values, 0.0] if negative else values


def _or_exit(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except Sam3Error as exc:
        console.print(f"[bold red]Error:[/] {exc.message}")
        raise typer.Exit(1) from None
