"""A real Prometheus (Debian's package) scrapes a running API, a prefork worker (its metrics
port, in prometheus-client's multiprocess mode) and RabbitMQ's plugin, with the jobs and metric
paths of deploy/prometheus/prometheus.yml and its alert rules, every second for a few seconds:
every target is up, and every series that an alert or a panel reads exists (the GPU series
only where a GPU is). The API and the worker log JSON lines, a job's with its task and owner."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import yaml

from sam3_service.inference.nvml import GPU_METRICS, GpuCollector
from tests.deploy.files import DEPLOY, promql_metric_names, require_tool
from tests.deploy.test_prometheus import alert_rules, dashboard_expressions
from tests.helpers import png_bytes
from tests.servers import RabbitMQNode, RedisServer, free_ports

pytestmark = [pytest.mark.deploy, pytest.mark.amqp, pytest.mark.slow]

SAM3_SERVICE = str(Path(sys.executable).parent / "sam3-service")
START_S = 120  # the worker loads the model before it serves
T = TypeVar("T")


def eventually(check: Callable[[], T | None], timeout_s: float, what: str) -> T:
    """`check()`'s first truthy answer within `timeout_s`; fails with `what` otherwise."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        answer = check()
        if answer:
            return answer
        time.sleep(0.25)
    pytest.fail(f"{what} within {timeout_s} s")


def start(command: list[str], env: dict[str, str], log: Path, stack: ExitStack) -> None:
    """Run `command` in its own process group, killed (the group) when the test ends."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )

    def kill() -> None:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)

    stack.callback(kill)


def prometheus_config(targets: dict[str, str], folder: Path) -> Path:
    """deploy/prometheus/prometheus.yml with each job's targets on loopback, scraping every
    second, with the alert rules by their path."""
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(DEPLOY / "prometheus" / name) for name in config["rule_files"]]
    for job in config["scrape_configs"]:
        job.pop("dns_sd_configs", None)
        job["static_configs"] = [{"targets": [targets[job["job_name"]]]}]
    path = folder / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def running(tiny_model_dir: Path, tmp_path: Path) -> Iterator[tuple[str, str, str, Path]]:
    """RabbitMQ (with its Prometheus plugin), Redis, an API, a worker and Prometheus; yields
    the API's URL, Prometheus's URL, an API key of `alice` and the folder of the logs."""
    api_port, worker_port, rabbit_port, prometheus_port = free_ports(4)
    with ExitStack() as stack:
        node = RabbitMQNode(prometheus_port=rabbit_port)
        stack.callback(node.remove)
        node.start()
        redis = RedisServer()
        redis.start()
        stack.callback(redis.stop)
        env = {
            **os.environ,
            "SAM3_MODEL": str(tiny_model_dir),
            "SAM3_DEVICE": "cpu",
            "SAM3_DATA_DIR": str(tmp_path / "data"),
            "SAM3_BROKER_URL": node.url,
            "SAM3_REDIS_URL": redis.url,
            "SAM3_HOST": "127.0.0.1",
            "SAM3_AUTH_ENABLED": "true",  # as deployed: the rate limiter counts
            "SAM3_LINK_SECRET": "0123456789abcdef" * 4,  # required with auth
            "OMP_NUM_THREADS": "1",
        }
        env.pop("SAM3_LOG_FORMAT", None)  # auto: JSON, since the output is a file
        made = subprocess.run(
            [SAM3_SERVICE, "keys", "create", "--scope", "user", "--owner", "alice"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        env["TEST_API_KEY"] = made.stdout.strip()
        start([SAM3_SERVICE, "serve", "--port", str(api_port)], env, tmp_path / "api.log", stack)
        worker_env = {**env, "SAM3_WORKER_METRICS_PORT": str(worker_port)}
        command = [SAM3_SERVICE, "worker", "--concurrency", "1"]
        start(command, worker_env, tmp_path / "worker.log", stack)
        targets = {
            "sam3-api": f"127.0.0.1:{api_port}",
            "sam3-worker": f"127.0.0.1:{worker_port}",
            "rabbitmq": f"127.0.0.1:{rabbit_port}",
            "prometheus": f"127.0.0.1:{prometheus_port}",
        }
        config = prometheus_config(targets, tmp_path)
        prometheus = [
            require_tool("prometheus"),
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prometheus_port}",
            "--log.level=warn",
        ]
        start(prometheus, dict(os.environ), tmp_path / "prometheus.log", stack)
        urls = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{prometheus_port}"
        yield *urls, env["TEST_API_KEY"], tmp_path


def json_lines(log: Path) -> list[dict[str, Any]]:
    """Every line of a log, each a JSON object (Celery prints its shutdown notice outside the
    logs: `worker: Warm shutdown`)."""
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    return [json.loads(line) for line in lines if not line.startswith("worker: ")]


def get(url: str, headers: dict[str, str] | None = None, **params: Any) -> Any:
    try:
        response = httpx.get(url, params=params, headers=headers, timeout=5)
    except httpx.TransportError:
        return None
    return response.json() if response.status_code == 200 else None


def test_prometheus_finds_every_target_up_and_every_series(
    running: tuple[str, str, str, Path],
) -> None:
    api, prometheus, key, logs = running
    auth = {"Authorization": f"Bearer {key}"}
    eventually(lambda: get(f"{api}/ready"), START_S, "the API was not ready (no worker)")
    accepted = httpx.post(
        f"{api}/v1/tasks",
        files={"file": ("a.png", png_bytes(), "image/png")},
        data={"prompt": "cat"},
        headers=auth,
        timeout=10,
    )
    assert accepted.status_code == 202, accepted.text
    task_id = accepted.json()["task_id"]

    def finished() -> dict[str, Any] | None:
        task = get(f"{api}/v1/tasks/{task_id}", auth)
        return task if task and task["status"] in ("succeeded", "failed") else None

    assert eventually(finished, 60, "the task did not finish")["status"] == "succeeded"

    def all_up() -> list[dict[str, Any]] | None:
        found = get(f"{prometheus}/api/v1/targets")
        active = found["data"]["activeTargets"] if found else []
        return active if active and all(t["health"] == "up" for t in active) else None

    jobs = {target["labels"]["job"] for target in eventually(all_up, 30, "a target was down")}
    assert jobs == {"sam3-api", "sam3-worker", "rabbitmq", "prometheus"}

    expressions = [rule["expr"] for rule in alert_rules()] + dashboard_expressions()
    read = set().union(*map(promql_metric_names, expressions))
    not_here = set(GPU_METRICS) | {"DCGM_FI_DEV_GPU_UTIL"}  # dcgm-exporter: Kubernetes only
    # The hub's series appear once a routing table sends traffic to versions (none here),
    # and shadow runs only where the API holds the models: tests/api/test_hub_metrics.py.
    not_here |= {name for name in read if name.startswith(("sam3_model_", "sam3_shadow_"))}

    def series(name: str) -> list[Any]:
        found = get(f"{prometheus}/api/v1/series", **{"match[]": name})
        return found["data"] if found else []

    def missing() -> set[str]:
        return {name for name in read - not_here if not series(name)}

    eventually(lambda: not missing() or None, 15, f"no series {sorted(missing())}")
    has_gpu = any(True for _ in GpuCollector().collect())
    for name in GPU_METRICS:  # absent, not zero, without a GPU
        assert bool(series(name)) == has_gpu, name
    rules = get(f"{prometheus}/api/v1/rules")["data"]["groups"]
    assert all(rule["health"] != "err" for group in rules for rule in group["rules"])

    api_lines = json_lines(logs / "api.log")
    assert all({"timestamp", "level", "logger", "message"} <= line.keys() for line in api_lines)
    worker_lines = json_lines(logs / "worker.log")
    job_lines = [line for line in worker_lines if line.get("task_id") == task_id]
    assert job_lines and all(line["owner"] and line["model_version"] for line in job_lines), (
        worker_lines[-5:]
    )
