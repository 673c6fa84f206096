"""`sam3-service worker` counts its model processes, so that each gets its share of the cores,
and takes its pool from settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sam3_service import tasks
from sam3_service import worker as worker_module
from sam3_service.cli import app
from sam3_service.settings import Settings


def started_with(monkeypatch: pytest.MonkeyPatch, settings: Settings, **given: Any) -> Settings:
    """The settings that the worker's model processes are given (the worker does not run)."""
    opened: dict[str, Any] = {}

    def open_task_worker(url: str, process: Any, **worker_options: Any) -> Any:
        worker = tasks.open_task_worker(url, process, **worker_options)
        monkeypatch.setattr(worker, "run", lambda **_: 0)
        opened["process"] = process
        return worker

    monkeypatch.setattr(worker_module, "open_task_worker", open_task_worker)
    monkeypatch.setattr(worker_module, "choose_model", lambda _: "tiny-random")
    assert worker_module.run_worker(settings.model_copy(update=given)) == 0
    return opened["process"].settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path, broker_url="amqp://x/")  # type: ignore[call-arg]


@pytest.mark.parametrize(("pool", "concurrency", "processes"), [("prefork", 3, 3), ("solo", 3, 1)])
def test_each_prefork_child_counts_as_a_model_process(
    monkeypatch: pytest.MonkeyPatch, settings: Settings, pool: str, concurrency: int, processes: int
) -> None:
    given = started_with(monkeypatch, settings, worker_pool=pool, worker_concurrency=concurrency)
    assert given.model_processes == processes


def test_a_set_count_is_kept(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    """SAM3_MODEL_PROCESSES counts the workers of the whole machine: it wins."""
    settings = settings.model_copy(update={"model_processes": 4})
    assert started_with(monkeypatch, settings, worker_concurrency=2).model_processes == 4


def test_the_command_line_sets_the_pool_over_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`sam3-service worker` passes settings alone: its flags win over SAM3_WORKER_*."""
    seen: list[Settings] = []
    monkeypatch.setattr(worker_module, "run_worker", lambda settings: seen.append(settings) or 0)
    monkeypatch.chdir(tmp_path)
    env = {"SAM3_WORKER_POOL": "solo", "SAM3_WORKER_CONCURRENCY": "3", "SAM3_LOG_FORMAT": "text"}
    assert CliRunner().invoke(app, ["worker"], env=env).exit_code == 0
    assert CliRunner().invoke(app, ["worker", "--pool", "prefork"], env=env).exit_code == 0
    assert [(s.worker_pool, s.worker_concurrency) for s in seen] == [("solo", 3), ("prefork", 3)]
