"""`sam3-service segment FILES`: images and videos, in this process or through a service."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..domain.params import SegmentParams
from ..errors import Sam3Error
from ..settings import Settings
from .base import app, console, or_exit

if TYPE_CHECKING:  # the heavy imports (torch) wait until the command runs
    from ..batch import Runner, VideoRequest


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
    from ..batch import LocalRunner, RemoteRunner, VideoRequest, is_video_file
    from ..domain.video import VideoOptions

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
            described = or_exit(local.load)
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


def _local_settings() -> Settings:
    """Settings for segmenting in this process: as in `make serve`, missing weights fall back
    (loudly) to the tiny random model, unless SAM3_MODEL_FALLBACK_TO_TINY is set."""
    settings = Settings()
    if "model_fallback_to_tiny" in settings.model_fields_set:
        return settings
    return settings.model_copy(update={"model_fallback_to_tiny": True})


def _run_with_progress(runner: Runner, images: list[Path], params: SegmentParams, out: Path) -> int:
    """Segment the images with a progress bar; returns how many failed (each one is said)."""
    from ..batch import Failed, segment_files

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
    from ..batch import VideoFiles

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
