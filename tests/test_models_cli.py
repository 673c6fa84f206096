"""`sam3-service models ...` against the registry and a running server."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sam3_service.api.app import create_app
from sam3_service.auth import Scope
from sam3_service.cli import app
from sam3_service.runtime import model_host, open_keys
from sam3_service.settings import Settings
from tests.helpers import TEST_LINK_SECRET, serve_in_thread

runner = CliRunner()


def cli(*args: str) -> str:
    result = runner.invoke(app, ["models", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def listing(url: str, key: str) -> dict:
    return json.loads(cli("list", "--json", "--url", url, "--key", key))


def until(check, timeout_s: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def state_of(shown: dict, version: str) -> str:
    return next(v["state"] for v in shown["versions"] if v["version"] == version)


async def admin_key(settings: Settings) -> str:
    async with open_keys(settings) as keys:
        return (await keys.create(scope=Scope.ADMIN, rate_per_min=100_000)).secret


def test_models_commands_register_load_route_promote_and_unload(
    tiny_model_dir: Path,
    other_tiny_model_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in {
        "SAM3_DATA_DIR": str(tmp_path),
        "SAM3_MODEL": str(tiny_model_dir),
        "SAM3_DEVICE": "cpu",
        "SAM3_AUTH_ENABLED": "true",
        "SAM3_LINK_SECRET": TEST_LINK_SECRET,
        "SAM3_ROUTING_POLL_S": "0.2",
    }.items():
        monkeypatch.setenv(name, value)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    key = asyncio.run(admin_key(settings))
    host = model_host(settings, str(tiny_model_dir))
    host.start()
    try:
        with serve_in_thread(create_app(settings, models=host)) as url:
            until(lambda: listing(url, key)["routing"]["stable"] is not None)
            v1 = listing(url, key)["routing"]["stable"]
            v2 = cli("add", str(other_tiny_model_dir)).strip()
            assert v2 != v1 and state_of(json.loads(cli("list", "--json")), v2) == "registered"
            cli("load", v2, "--url", url, "--key", key)
            until(lambda: state_of(listing(url, key), v2) == "ready")
            cli("route", "--canary", v2, "--canary-percent", "10")
            until(lambda: listing(url, key)["routing"]["canary"] == v2)
            shares = {v["version"]: v["traffic_percent"] for v in listing(url, key)["versions"]}
            assert shares == {v1: 90.0, v2: 10.0}
            refused = runner.invoke(app, ["models", "unload", v2, "--url", url, "--key", key])
            assert refused.exit_code == 1 and "roll it back" in refused.output
            cli("rollback", v2, "--reason", "too slow")
            events = json.loads(cli("list", "--json"))["events"]
            assert (events[0]["kind"], events[0]["reason"]) == ("rolled_back", "too slow")
            cli("promote", v2)
            until(lambda: listing(url, key)["routing"]["stable"] == v2)
            cli("unload", v1, "--url", url, "--key", key)
            shown = json.loads(cli("list", "--json"))
            assert state_of(shown, v1) == "unloaded" and shown["routing"]["canary"] is None
            assert "promoted" in cli("list")
            missing = runner.invoke(app, ["models", "promote", "nope-1"])
            assert missing.exit_code == 1
    finally:
        host.close()
