"""`sam3-service backup` and `restore`: tasks, API keys and stored objects survive a wipe, on
SQLite and on PostgreSQL; a restore refuses a newer schema and a database that holds rows."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from sam3_service.auth import Scope, open_key_store
from sam3_service.backup import backup, restore
from sam3_service.cli import app
from sam3_service.database import upgrade_database
from sam3_service.errors import ConfigError, Conflict
from sam3_service.settings import Settings
from sam3_service.storage import open_blob_store
from sam3_service.tasks import open_task_store
from sam3_service.tasks.base import TaskRecord, TaskStatus
from tests.helpers import png_bytes
from tests.servers import fresh_database

# The model hub's tables (revision 0004), empty in these backups.
NO_MODELS = {"model_events": 0, "model_routing": 0, "model_versions": 0}
MODEL_TABLES = "0 model_events, 0 model_routing, 0 model_versions,"


@dataclass
class Stored:
    """What a test put in the store, to find again after a restore."""

    tasks: list[TaskRecord]
    secrets: dict[str, str]  # key id -> secret
    blobs: dict[str, bytes]


def settings_for(data_dir: Path, database_url: str = "") -> Settings:
    return Settings(_env_file=None, data_dir=data_dir, database_url=database_url)  # type: ignore[call-arg]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def databases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two empty databases: the one backed up and the one restored into ("" for SQLite files,
    which a wipe deletes)."""
    if request.param == "sqlite":
        yield "", ""
        return
    admin = request.getfixturevalue("postgres_admin_url")
    with (
        fresh_database(admin, "sam3_backup") as source,
        fresh_database(admin, "sam3_restore") as target,
    ):
        yield source, target


async def fill(settings: Settings) -> Stored:
    """Two tasks (one with a result), two keys (one revoked) and their objects."""
    picture = png_bytes()
    image_key = f"images/{hashlib.sha256(picture).hexdigest()}"
    blobs = {image_key: picture, "results/t-done/result.json": b'{"objects": []}'}
    store = open_blob_store(settings.resolved_storage_url)
    for key, data in blobs.items():
        await store.put(key, data, "image/png" if key == image_key else "application/json")
    await store.aclose()
    tasks = [
        TaskRecord(
            id="t-done",
            kind="image",
            input_key=image_key,
            params={"prompt": "cat", "mode": "auto"},
            owner="alice",
            status=TaskStatus.SUCCEEDED,
            progress=1.0,
            model_version="tiny@1",
            result_key="results/t-done/result.json",
            timings_ms={"decode": 1.5, "vision": 20.25},
            attempts=1,
        ),
        TaskRecord(
            id="t-failed",
            kind="video",
            input_key=image_key,
            params={"prompt": "dog"},
            owner="bob",
            status=TaskStatus.FAILED,
            error={"code": "invalid_input", "message": "no frames"},
        ),
    ]
    task_store = await open_task_store(settings.resolved_database_url)
    for record in tasks:
        await task_store.create(record)
    await task_store.add_upload("alice", hashlib.sha256(picture).hexdigest())
    await task_store.aclose()
    keys = open_key_store(settings.resolved_database_url)
    made = [
        await keys.create(scope=Scope.USER, owner="alice"),
        await keys.create(scope=Scope.ADMIN),
    ]
    await keys.revoke(made[1].key.id)
    await keys.aclose()
    return Stored(tasks, {new.key.id: new.secret for new in made}, blobs)


async def find_everything(settings: Settings, stored: Stored) -> None:
    task_store = await open_task_store(settings.resolved_database_url)
    for record in stored.tasks:
        assert await task_store.get(record.id) == record
    image_sha256 = stored.tasks[0].input_key.removeprefix("images/")
    assert await task_store.has_upload("alice", image_sha256)  # her image_id still works
    assert not await task_store.has_upload("bob", image_sha256)
    await task_store.aclose()
    keys = open_key_store(settings.resolved_database_url)
    for key_id, secret in stored.secrets.items():
        found = await keys.lookup(secret)
        assert found is not None and found.id == key_id
    assert [k.id for k in await keys.list(include_revoked=True)] == list(stored.secrets)
    assert len(await keys.list()) == 1  # the revoked key stays revoked
    await keys.aclose()
    store = open_blob_store(settings.resolved_storage_url)
    for key, data in stored.blobs.items():
        assert await store.get(key) == data
    await store.aclose()


async def test_a_backup_restores_tasks_keys_and_objects_after_a_wipe(
    databases: tuple[str, str], tmp_path: Path
) -> None:
    source_url, target_url = databases
    source = settings_for(tmp_path / "data", source_url)
    stored = await fill(source)
    made = await backup(source, tmp_path / "backup")
    assert made.rows == {"api_keys": 2, "shares": 0, "tasks": 2, "uploads": 1} | NO_MODELS
    assert made.blobs == 2
    manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
    assert manifest["schema_revision"] == made.schema_revision and manifest["blobs"]["copied"]

    shutil.rmtree(tmp_path / "data")  # the SQLite file and the stored objects
    target = settings_for(tmp_path / "data", target_url)
    restored = await restore(target, tmp_path / "backup")
    assert restored.rows == made.rows and restored.blobs == 2 and not restored.blobs_missing
    await find_everything(target, stored)
    with pytest.raises(Conflict, match="restore into an empty database"):
        await restore(target, tmp_path / "backup")


async def test_without_blobs_a_restore_checks_the_objects_in_the_store(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "data")
    stored = await fill(settings)
    await backup(settings, tmp_path / "backup", blobs=False)
    assert not (tmp_path / "backup" / "blobs").exists()
    (tmp_path / "data" / "sam3.db").unlink()
    store = open_blob_store(settings.resolved_storage_url)
    await store.delete("results/t-done/result.json")  # the bucket lost one object
    await store.aclose()
    restored = await restore(settings, tmp_path / "backup")
    assert restored.blobs_already_there == 1
    assert restored.blobs_missing == ["results/t-done/result.json"]
    assert "1 missing" in restored.describe("Restored")
    stored.blobs.pop("results/t-done/result.json")
    await find_everything(settings, stored)


async def test_a_restore_refuses_a_newer_schema_or_a_damaged_copy(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "data")
    await fill(settings)
    folder = tmp_path / "backup"
    await backup(settings, folder)
    empty = settings_for(tmp_path / "empty")
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest_path.write_text(json.dumps({**manifest, "schema_revision": "9999"}))
    with pytest.raises(ConfigError, match="newer than this sam3-service knows"):
        await restore(empty, folder)
    manifest_path.write_text(json.dumps(manifest))
    (folder / "blobs" / "results" / "t-done" / "result.json").write_bytes(b"changed")
    with pytest.raises(ConfigError, match="fails its checksum"):
        await restore(empty, folder)
    assert not (tmp_path / "empty" / "sam3.db").exists()  # checked before writing anything
    with pytest.raises(Conflict, match="not empty"):
        await backup(settings, folder)


def test_the_commands_say_what_they_backed_up_and_restored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored = asyncio.run(fill(settings_for(tmp_path / "data")))
    monkeypatch.setenv("SAM3_DATA_DIR", str(tmp_path / "data"))
    runner = CliRunner()
    made = runner.invoke(app, ["backup", "--timestamped", str(tmp_path / "backups")])
    assert made.exit_code == 0, made.output
    (folder,) = (tmp_path / "backups").iterdir()
    assert f"Backed up 2 api_keys, {MODEL_TABLES} 0 shares, 2 tasks, 1 uploads" in " ".join(
        made.output.split()
    )
    shutil.rmtree(tmp_path / "data")
    done = runner.invoke(app, ["restore", str(folder)])
    assert done.exit_code == 0, done.output
    assert f"Restored 2 api_keys, {MODEL_TABLES} 0 shares, 2 tasks, 1 uploads (schema" in " ".join(
        done.output.split()
    )
    asyncio.run(find_everything(settings_for(tmp_path / "data"), stored))
    refused = runner.invoke(app, ["restore", str(tmp_path)])
    assert refused.exit_code == 1 and "no manifest.json" in refused.output


async def test_a_backup_of_an_older_schema_is_restored_then_migrated(tmp_path: Path) -> None:
    old = settings_for(tmp_path / "old")
    upgrade_database(old.resolved_database_url, revision="0001")  # tasks, no api_keys yet
    engine = sa.create_engine(old.resolved_database_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO tasks (id, kind, input_key, params, owner, status, progress, "
                "timings_ms, attempts, created_at) VALUES ('t-old', 'image', 'images/x', '{}', "
                "'carol', 'queued', 0, '{}', 0, '2025-01-02 03:04:05.000000')"
            )
        )
    engine.dispose()
    made = await backup(old, tmp_path / "backup")
    assert (made.schema_revision, made.rows) == ("0001", {"tasks": 1})

    new = settings_for(tmp_path / "new")
    restored = await restore(new, tmp_path / "backup")
    assert restored.rows == {"tasks": 1}
    store = await open_task_store(new.resolved_database_url)  # at the newest revision now
    record = await store.get("t-old")
    await store.aclose()
    assert (record.owner, record.created_at.isoformat()) == ("carol", "2025-01-02T03:04:05+00:00")
    keys = open_key_store(new.resolved_database_url)
    assert await keys.list() == []  # the table that 0002 added exists
    await keys.aclose()
