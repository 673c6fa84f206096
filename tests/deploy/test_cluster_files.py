"""The local cluster's rendered files (deploy/cluster/cluster_files.py), checked without
starting it: supervisor's programs, the processes' variables against Settings, and nginx -t."""

from __future__ import annotations

import configparser
import importlib
import subprocess
from pathlib import Path
from types import ModuleType

import pytest

from sam3_service.settings import Settings
from tests.deploy.files import DEPLOY, require_tool

API_PORTS = [18101, 18102, 18103]
S3_PORTS = list(range(18110, 18120))


@pytest.fixture
def files(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(DEPLOY / "cluster"))
    return importlib.import_module("cluster_files")


@pytest.fixture
def rendered(
    files: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> configparser.RawConfigParser:
    monkeypatch.setenv("SAM3_CLUSTER_DIR", str(tmp_path))
    monkeypatch.setenv("SAM3_CLUSTER_NAME", "sam3_cluster_files")
    cluster = files.Cluster.from_env()
    database = "postgresql+psycopg://postgres@127.0.0.1:5432/sam3_cluster_files"
    env = files.environment(cluster, tmp_path / "models" / "mid-random", database, S3_PORTS[0])
    files.render(cluster, env, API_PORTS, S3_PORTS)
    parser = configparser.RawConfigParser()
    parser.read(tmp_path / "supervisord.conf")
    return parser


def programs(parser: configparser.RawConfigParser) -> dict[str, dict[str, str]]:
    return {
        name.removeprefix("program:"): dict(parser[name])
        for name in parser.sections()
        if name.startswith("program:")
    }


def variables(parser: configparser.RawConfigParser) -> dict[str, str]:
    pairs = parser["supervisord"]["environment"].split('",')
    return dict(pair.rstrip('"').replace('="', "=", 1).split("=", 1) for pair in pairs)


def test_supervisor_runs_every_part_restarting_any_that_exits(
    rendered: configparser.RawConfigParser,
) -> None:
    found = programs(rendered)
    assert set(found) == {"api-1", "api-2", "api-3", "worker-1", "worker-2", "nginx", "s3"}
    assert all(program["autorestart"] == "true" for program in found.values())
    for index, port in enumerate(API_PORTS, start=1):
        assert found[f"api-{index}"]["command"].endswith(f" serve --host 127.0.0.1 --port {port}")
    assert found["worker-1"]["command"].endswith(" worker")
    priorities = {name: int(program["priority"]) for name, program in found.items()}
    assert priorities["s3"] < priorities["worker-1"] < priorities["api-1"] < priorities["nginx"]
    logs = {Path(program["stdout_logfile"]).parent for program in found.values()}
    assert len(logs) == 1


def test_the_processes_variables_are_settings_of_their_own(
    rendered: configparser.RawConfigParser,
) -> None:
    env = variables(rendered)
    fields = {f"SAM3_{name.upper()}" for name in Settings.model_fields}
    assert {name for name in env if name.startswith("SAM3_")} <= fields
    assert env["SAM3_BROKER_QUEUE"] == "sam3_cluster_files.tasks"
    assert env["SAM3_STORAGE_URL"] == "s3://sam3-cluster-files/"
    assert env["SAM3_DATABASE_URL"].endswith("/sam3_cluster_files")
    assert env["SAM3_AUTH_ENABLED"] == "false"
    assert len(env["SAM3_LINK_SECRET"]) >= 32


@pytest.mark.deploy
def test_nginx_accepts_the_gateways_configuration(
    rendered: configparser.RawConfigParser, tmp_path: Path
) -> None:
    conf = tmp_path / "nginx" / "nginx.conf"
    text = conf.read_text()
    assert "listen 127.0.0.1:8080;" in text
    assert all(f"server 127.0.0.1:{port} " in text for port in API_PORTS)
    command = [require_tool("nginx"), "-t", "-e", "stderr", "-p", str(conf.parent), "-c", str(conf)]
    checked = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
