"""`sam3-service backup DIR` and `restore DIR`: the task database and the stored objects.

A backup folder holds `manifest.json` (the format, the schema revision, rows per table, what
was stored), `tables/<table>.jsonl` (every table: tasks, API keys, and any later one such as a
model registry, from one consistent snapshot), `blobs.jsonl` (every stored object's key, size,
content type and SHA-256) and, unless made with `blobs=False`, `blobs/<key>`: the objects'
bytes. Without them, the manifest lets a restore check the objects that a versioned S3 bucket
kept. A restore refuses a backup of a newer schema and fills only an empty database.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import __version__
from .database import dump_tables, load_tables
from .errors import ConfigError, Conflict, NotFound
from .settings import Settings
from .storage import BlobStore, open_blob_store

FORMAT = 1
MANIFEST = "manifest.json"
BLOB_LIST = "blobs.jsonl"


@dataclass
class BackupReport:
    """What a backup or a restore handled."""

    folder: Path
    schema_revision: str
    rows: dict[str, int]
    blobs: int = 0
    blob_bytes: int = 0
    blobs_copied: bool = True
    blobs_already_there: int = 0
    blobs_missing: list[str] = field(default_factory=list)

    def describe(self, verb: str) -> str:
        tables = ", ".join(f"{count} {name}" for name, count in self.rows.items()) or "no rows"
        text = (
            f"{verb} {tables} (schema {self.schema_revision}) and {self.blobs} stored objects "
            f"({self.blob_bytes} bytes)"
        )
        if self.blobs_already_there:
            text += f", {self.blobs_already_there} of them already in the store"
        if self.blobs_missing:
            text += f"; {len(self.blobs_missing)} missing from the store and the backup"
        return text


async def backup(settings: Settings, folder: Path, *, blobs: bool = True) -> BackupReport:
    """Write a backup of the database and the stored objects into the new or empty `folder`."""
    if folder.exists() and any(folder.iterdir()):
        raise Conflict(f"{folder} is not empty: back up into a new folder")
    url = settings.resolved_database_url
    revision, rows = await asyncio.to_thread(dump_tables, url, folder / "tables")
    report = BackupReport(folder, revision, rows, blobs_copied=blobs)
    store = _store(settings)
    try:
        with (folder / BLOB_LIST).open("w", encoding="utf-8") as listing:
            for key in await store.keys():
                entry = await _save_blob(store, key, folder / "blobs" if blobs else None)
                listing.write(json.dumps(entry) + "\n")
                report.blobs += 1
                report.blob_bytes += entry["bytes"]
    finally:
        await store.aclose()
    manifest = {
        "format": FORMAT,
        "created_at": datetime.now(UTC).isoformat(),
        "sam3_service": __version__,
        "schema_revision": revision,
        "tables": rows,
        "blobs": {"count": report.blobs, "bytes": report.blob_bytes, "copied": blobs},
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return report


async def restore(settings: Settings, folder: Path) -> BackupReport:
    """Restore the backup in `folder` into the (empty) database and the store of `settings`.

    Checks every copied object against its checksum before writing anything. Raises
    ConfigError for a folder that is no backup, or one of a newer format or schema; Conflict
    for a database that holds rows already."""
    manifest = _manifest(folder)
    entries = [json.loads(line) for line in (folder / BLOB_LIST).read_text().splitlines() if line]
    copied = bool(manifest["blobs"]["copied"])
    if copied:
        await asyncio.to_thread(_check_copies, folder / "blobs", entries)
    revision = manifest["schema_revision"]
    rows = await asyncio.to_thread(
        load_tables,
        settings.resolved_database_url,
        folder / "tables",
        revision,
        list(manifest["tables"]),
    )
    report = BackupReport(folder, revision, rows, blobs_copied=copied)
    store = _store(settings)
    try:
        for entry in entries:
            await _restore_blob(store, entry, folder / "blobs" if copied else None, report)
    finally:
        await store.aclose()
    return report


def _manifest(folder: Path) -> dict[str, Any]:
    try:
        manifest: dict[str, Any] = json.loads((folder / MANIFEST).read_text())
    except FileNotFoundError:
        raise ConfigError(f"{folder} is no backup: it has no {MANIFEST}") from None
    if manifest.get("format", 0) > FORMAT:
        raise ConfigError(
            f"{folder} is a backup of format {manifest['format']}, newer than this "
            f"sam3-service reads ({FORMAT}): restore it with a newer version"
        )
    return manifest


def _store(settings: Settings) -> BlobStore:
    return open_blob_store(
        settings.resolved_storage_url,
        endpoint_url=settings.s3_endpoint_url or None,
        create_bucket=True,
    )


async def _save_blob(store: BlobStore, key: str, copies: Path | None) -> dict[str, Any]:
    data = await store.get(key)
    if copies is not None:
        path = copies.joinpath(*key.split("/"))
        path.parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(path.write_bytes, data)
    return {
        "key": key,
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "content_type": await store.content_type(key),
    }


def _check_copies(copies: Path, entries: list[dict[str, Any]]) -> None:
    for entry in entries:
        path = copies.joinpath(*entry["key"].split("/"))
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except FileNotFoundError:
            raise ConfigError(f"the backup lacks its copy of {entry['key']!r}") from None
        if digest != entry["sha256"]:
            raise ConfigError(f"the backup's copy of {entry['key']!r} fails its checksum")


async def _restore_blob(
    store: BlobStore, entry: dict[str, Any], copies: Path | None, report: BackupReport
) -> None:
    key = entry["key"]
    report.blobs += 1
    report.blob_bytes += entry["bytes"]
    try:
        held = hashlib.sha256(await store.get(key)).hexdigest()
    except NotFound:
        held = None
    if held == entry["sha256"]:
        report.blobs_already_there += 1
    elif copies is not None:
        data = await asyncio.to_thread(copies.joinpath(*key.split("/")).read_bytes)
        await store.put(key, data, entry["content_type"])
    else:
        report.blobs_missing.append(key)
