"""`sam3-service backup` and `restore`: the task database and the stored objects."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from ..settings import Settings
from .base import app, console, or_exit


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
    from ..backup import backup

    if timestamped:
        folder = folder / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    report = or_exit(lambda: asyncio.run(backup(Settings(), folder, blobs=blobs)))
    console.print(report.describe("Backed up") + f" into {folder}")


@app.command("restore")
def restore_command(
    folder: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="A backup.")],
) -> None:
    """Restore a backup into the empty database of SAM3_DATABASE_URL (then migrated to this
    version's schema) and the store of SAM3_STORAGE_URL. Refuses a backup of a newer schema."""
    from ..backup import restore

    report = or_exit(lambda: asyncio.run(restore(Settings(), folder)))
    console.print(report.describe("Restored") + f" from {folder}")
    if report.blobs_missing:
        console.print("[bold red]Missing:[/] " + " ".join(report.blobs_missing[:20]))
        raise typer.Exit(1)
