"""`sam3-service keys create | list | revoke` on the task database of SAM3_DATABASE_URL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sam3_service.auth import Scope
from sam3_service.cli import app
from sam3_service.runtime import open_keys
from sam3_service.settings import Settings


@pytest.fixture
def runner(tmp_path: Path) -> CliRunner:
    return CliRunner(env={"SAM3_DATA_DIR": str(tmp_path), "SAM3_DEFAULT_RATE_PER_MIN": "30"})


def lookup(data_dir: Path, secret: str):
    async def find():
        async with open_keys(Settings(_env_file=None, data_dir=data_dir)) as keys:  # type: ignore[call-arg]
            return await keys.lookup(secret)

    return asyncio.run(find())


def test_create_prints_only_the_key_on_stdout(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["keys", "create", "--scope", "admin", "--owner", "ops", "--rate", "120/min"]
    )
    assert result.exit_code == 0, result.output
    secret = result.stdout.strip()
    assert secret.startswith("sam3_") and "\n" not in secret
    assert "cannot be shown again" in result.stderr
    key = lookup(tmp_path, secret)
    assert key is not None
    assert (key.scope, key.owner, key.rate_per_min) == (Scope.ADMIN, "ops", 120)


def test_the_rate_defaults_to_the_setting(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["keys", "create", "--scope", "user"])
    key = lookup(tmp_path, result.stdout.strip())
    assert key is not None and key.rate_per_min == 30 and key.owner == key.id


@pytest.mark.parametrize("rate", ["0", "fast", "5/s", "-3"])
def test_a_bad_rate_is_a_usage_error(runner: CliRunner, rate: str) -> None:
    result = runner.invoke(app, ["keys", "create", "--scope", "user", "--rate", rate])
    assert result.exit_code == 2
    assert "--rate" in result.stderr


def test_scope_is_required_and_checked(runner: CliRunner) -> None:
    assert runner.invoke(app, ["keys", "create"]).exit_code == 2
    assert runner.invoke(app, ["keys", "create", "--scope", "root"]).exit_code == 2


def test_list_and_revoke(runner: CliRunner, tmp_path: Path) -> None:
    secret = runner.invoke(app, ["keys", "create", "--scope", "user", "--owner", "alice"]).stdout
    key = lookup(tmp_path, secret.strip())
    assert key is not None
    listed = runner.invoke(app, ["keys", "list"])
    assert listed.exit_code == 0 and key.id in listed.stdout and "alice" in listed.stdout
    assert secret.strip() not in listed.stdout

    revoked = runner.invoke(app, ["keys", "revoke", key.id])
    assert revoked.exit_code == 0 and key.id in revoked.stderr
    assert key.id not in runner.invoke(app, ["keys", "list"]).stdout
    assert key.id in runner.invoke(app, ["keys", "list", "--all"]).stdout
    found = lookup(tmp_path, secret.strip())
    assert found is not None and found.revoked_at is not None


def test_revoking_an_unknown_key_exits_1_with_the_reason(runner: CliRunner) -> None:
    result = runner.invoke(app, ["keys", "revoke", "nope"])
    assert result.exit_code == 1
    assert "no API key nope" in result.stderr


def test_each_command_says_which_database_it_uses(runner: CliRunner, tmp_path: Path) -> None:
    for args in (["create", "--scope", "user"], ["list"]):
        result = runner.invoke(app, ["keys", *args])
        assert result.exit_code == 0, result.output
        assert f"Key database: sqlite:///{tmp_path / 'sam3.db'}" in result.stderr
    hidden = CliRunner(env={"SAM3_DATABASE_URL": "postgresql+psycopg://u:secret@127.0.0.1:1/x"})
    result = hidden.invoke(app, ["keys", "list"])
    assert "postgresql+psycopg://u:***@127.0.0.1:1/x (from SAM3_DATABASE_URL)" in result.stderr
    assert "secret" not in result.output
