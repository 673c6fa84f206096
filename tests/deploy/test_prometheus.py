"""deploy/prometheus and deploy/grafana: promtool checks the configuration and the alerts and runs
their unit tests; every metric that an alert or a panel reads is one the service serves."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from sam3_service.api.app import create_app
from sam3_service.api.hub_metrics import hub_families
from sam3_service.domain.models import ModelHost
from sam3_service.hub import open_model_registry
from sam3_service.inference.base import EngineStats
from sam3_service.inference.nvml import GPU_METRICS
from sam3_service.tasks.base import TaskRecord
from sam3_service.worker_metrics import WorkerMetrics
from tests.deploy.files import (
    DEPLOY,
    load_yaml,
    promql_metric_names,
    require_tool,
    settings_from,
)
from tests.deploy.promql import BACKLOG, QUEUE_READY, READY_SERIES, evaluate
from tests.helpers import make_settings
from tests.hub_traffic import watched_traffic

PROMETHEUS = DEPLOY / "prometheus"
# Read by alerts or panels, served by others than the service.
EXPORTED_ELSEWHERE = {
    "up": "Prometheus itself",
    "rabbitmq_queue_messages_ready": "RabbitMQ's Prometheus plugin (/metrics/per-object)",
    "DCGM_FI_DEV_GPU_UTIL": "NVIDIA's dcgm-exporter",
}


@pytest.fixture(scope="module")
def served_metrics(
    tiny_model_dir: Path, shared_host: ModelHost, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[set[str]]:
    """The sample names of a replica's /metrics (auth on, so that the rate limiter counts)."""
    settings = make_settings(tiny_model_dir, tmp_path_factory.mktemp("metrics"), auth_enabled=True)
    with TestClient(create_app(settings, models=shared_host)) as client:
        assert client.get("/health").status_code == 200
        text = client.get("/metrics").text
    yield {
        sample.name for family in text_string_to_metric_families(text) for sample in family.samples
    }


@pytest.fixture(scope="module")
def hub_metrics(
    tiny_model_dir: Path, shared_host: ModelHost, tmp_path_factory: pytest.TempPathFactory
) -> set[str]:
    """The sample names of the model hub's metrics once a canary was rolled back and a shadow
    version compared (a replica serves them only then)."""

    async def watched() -> set[str]:
        url = f"sqlite:///{tmp_path_factory.mktemp('hub') / 'hub.db'}"
        registry = await open_model_registry(url)
        try:
            watch, shadow = await watched_traffic(registry, shared_host, tiny_model_dir)
        finally:
            await registry.aclose()
        return {sample.name for family in hub_families(watch, shadow) for sample in family.samples}

    return asyncio.run(watched())


def alert_rules() -> list[dict[str, Any]]:
    return [
        rule for group in load_yaml("prometheus/alerts.yml")["groups"] for rule in group["rules"]
    ]


def dashboard_targets() -> list[dict[str, Any]]:
    """Every panel's queries, in every dashboard."""
    return [
        target
        for path in sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))
        for panel in json.loads(path.read_text())["panels"]
        for target in panel["targets"]
    ]


def dashboard_expressions() -> list[str]:
    return [target["expr"] for target in dashboard_targets()]


def promtool(*arguments: str) -> subprocess.CompletedProcess[str]:
    command = [require_tool("promtool"), *arguments]
    return subprocess.run(command, cwd=PROMETHEUS, capture_output=True, text=True, timeout=60)


@pytest.mark.deploy
@pytest.mark.parametrize(
    "arguments",
    [
        ("check", "config", "prometheus.yml"),
        ("check", "rules", "alerts.yml"),
        ("test", "rules", "alerts_test.yml"),
    ],
    ids=["config", "rules", "rule-tests"],
)
def test_promtool_accepts(arguments: tuple[str, ...]) -> None:
    checked = promtool(*arguments)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_alerts_cover_what_operators_watch() -> None:
    names = {rule["alert"] for rule in alert_rules()}
    assert {
        "Sam3ApiDown",
        "Sam3High5xxRate",
        "Sam3SegmentLatencyHigh",
        "Sam3QueueBacklog",
        "Sam3ModelNotReady",
        "Sam3CacheFailures",
        "Sam3ModelRolledBack",
        "Sam3ShadowDisagrees",
    } <= names
    assert all(rule["labels"]["severity"] in ("warning", "critical") for rule in alert_rules())


def worker_metrics() -> set[str]:
    """The sample names of a worker's metrics port once it ran a job, and of its GPUs."""
    metrics = WorkerMetrics()
    metrics.job_done(TaskRecord("t", "image", "images/x", {}, timings_ms={"decode": 1.0}))
    metrics.engine_stats(EngineStats(vision_encoder_runs=1))
    metrics.model_load_seconds.set(1)
    text = generate_latest(metrics.registry).decode()
    names = {s.name for f in text_string_to_metric_families(text) for s in f.samples}
    return names | set(GPU_METRICS)


def test_alerts_and_panels_read_metrics_that_exist(
    served_metrics: set[str], hub_metrics: set[str]
) -> None:
    expressions = [rule["expr"] for rule in alert_rules()] + dashboard_expressions()
    read = set().union(*map(promql_metric_names, expressions))
    served = served_metrics | hub_metrics | worker_metrics()
    unknown = read - served - set(EXPORTED_ELSEWHERE)
    assert unknown == set(), f"no such metric in the service's /metrics: {sorted(unknown)}"
    assert {name for name in read if name.startswith("sam3_")} <= served


def test_the_backlog_panel_counts_the_services_queues(tmp_path: Path) -> None:
    """In all as the workers scale on (sam3.tasks, its version and worker queues, not .dead),
    per version queue, and in the workers' queues: promtool evaluates the panel's queries."""
    assert settings_from({}).broker_queue in QUEUE_READY
    ready = {
        target["legendFormat"]: target["expr"]
        for target in dashboard_targets()
        if "rabbitmq_queue_messages_ready" in target["expr"]
    }
    expected = {
        "RabbitMQ ready, all": {"{}": BACKLOG},
        "{{queue}}": {'{queue="sam3.tasks.v.abc123"}': 10, '{queue="sam3.tasks.v.def456"}': 100},
        "workers' queues": {"{}": 1000},
    }
    assert ready.keys() == expected.keys()
    by_expr = {ready[legend]: samples for legend, samples in expected.items()}
    assert evaluate(by_expr, READY_SERIES, tmp_path) == ""


def test_the_dashboards_use_the_provisioned_datasource() -> None:
    (datasource,) = load_yaml("grafana/provisioning/datasources/prometheus.yaml")["datasources"]
    for path in sorted((DEPLOY / "grafana" / "dashboards").glob("*.json")):
        dashboard = json.loads(path.read_text())
        panels = dashboard["panels"]
        assert dashboard["uid"] and len({p["id"] for p in panels}) == len(panels)
        for panel in panels:
            assert panel["datasource"]["uid"] == datasource["uid"], panel["title"]
            assert all(t["datasource"]["uid"] == datasource["uid"] for t in panel["targets"])
