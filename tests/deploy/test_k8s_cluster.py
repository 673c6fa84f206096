"""deploy/k8s as a cluster operator applies it: every rendered manifest validated strictly and
offline (kubernetes-validate for Kubernetes' own kinds, tests/deploy/crds.py for KEDA's and the
Prometheus Operator's), and the Ingress, NetworkPolicies, ServiceMonitors, topology spread, worker
probes, KEDA ScaledObject and backup CronJob checked against nginx.conf, the CLI and Settings."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest

from tests.deploy.crds import SCHEMAS
from tests.deploy.files import cli_commands, read, settings_from
from tests.deploy.promql import BACKLOG, READY_SERIES, evaluate
from tests.deploy.test_k8s import (
    OVERLAYS,
    Manifest,
    adapter_query,
    container,
    find,
    pod_labels,
    rendered,
)
from tests.deploy.test_nginx import directive, locations, size

KUBERNETES_VERSION = "1.37.0"
ZONE = "topology.kubernetes.io/zone"
NGINX = "nginx.ingress.kubernetes.io/"
# What ingress-nginx may reach, and Prometheus: the namespaces of the NetworkPolicies.
INGRESS_NAMESPACE, MONITORING_NAMESPACE = "ingress-nginx", "monitoring"


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> list[Manifest]:
    return rendered(request.param)


def validate(manifest: Manifest) -> None:
    """Raises unless `manifest` is valid: strictly against Kubernetes' schemas, or against the
    custom resource's documented fields. An unknown kind fails."""
    key = (manifest["apiVersion"], manifest["kind"])
    if key in SCHEMAS:
        jsonschema.validate(manifest, SCHEMAS[key])
        return
    kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


def test_every_rendered_manifest_validates_strictly(overlay: list[Manifest]) -> None:
    for manifest in overlay:
        validate(manifest)
    for scaled in (m for m in overlay if m["kind"] == "ScaledObject"):
        behavior = scaled["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
        validate(hpa_with(behavior))  # KEDA passes it to the HPA that it makes


def hpa_with(behavior: dict[str, Any]) -> Manifest:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "check"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "x"},
            "maxReplicas": 2,
            "behavior": behavior,
        },
    }


@pytest.mark.parametrize(
    ("kind", "path"),
    [
        ("Deployment", ("spec", "template", "spec", "containers", 0, "livenessProb")),
        ("ScaledObject", ("spec", "triggers", 0, "metadata", "queue")),
        ("ServiceMonitor", ("spec", "endpoints", 0, "paths")),
    ],
)
def test_validation_rejects_a_misspelt_field(kind: str, path: tuple[Any, ...]) -> None:
    manifest = copy.deepcopy(next(m for m in rendered("keda") if m["kind"] == kind))
    parent: Any = manifest
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = "x"
    with pytest.raises(jsonschema.ValidationError):
        validate(manifest)


def test_the_ingress_allows_what_nginx_allows(overlay: list[Manifest]) -> None:
    conf = read("nginx/nginx.conf")
    blocks = locations(conf)
    server = conf.split("location")[0]  # the directives every location inherits
    seen = set()
    for ingress in (m for m in overlay if m["kind"] == "Ingress"):
        (rule,) = ingress["spec"]["rules"]
        (path,) = rule["http"]["paths"]
        assert path["backend"]["service"] == {"name": "sam3-api", "port": {"name": "http"}}
        location = f"= {path['path']}" if path["pathType"] == "Exact" else path["path"]
        seen.add(location)
        body = blocks[location]
        annotations = ingress["metadata"].get("annotations", {})
        if location == "= /metrics":
            assert annotations[NGINX + "denylist-source-range"] == "0.0.0.0/0,::/0"
            continue
        for name in ("client_max_body_size", "proxy_read_timeout", "proxy_send_timeout"):
            expected = directive(body if name in body else server, name)
            key = "proxy-body-size" if name == "client_max_body_size" else name.replace("_", "-")
            value = annotations[NGINX + key]
            assert (size(value) == size(expected)) if "size" in name else (f"{value}s" == expected)
        buffering = "off" if "proxy_request_buffering off" in body else None
        assert annotations.get(NGINX + "proxy-request-buffering") == buffering
    proxied = {loc for loc, body in blocks.items() if "client_max_body_size" in body}
    assert proxied | {"/", "= /metrics"} <= seen


def policy_for(overlay: list[Manifest], deployment: Manifest) -> Manifest:
    labels = pod_labels(deployment)
    (policy,) = [
        m
        for m in overlay
        if m["kind"] == "NetworkPolicy"
        and m["spec"]["podSelector"]
        and m["spec"]["podSelector"]["matchLabels"].items() <= labels.items()
    ]
    return policy


def sources(rule: dict[str, Any]) -> set[str]:
    return {
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for peer in rule["from"]
    }


def test_network_policies_let_in_only_the_ingress_and_prometheus(overlay: list[Manifest]) -> None:
    (deny,) = [m for m in overlay if m["kind"] == "NetworkPolicy" and not m["spec"]["podSelector"]]
    assert deny["spec"]["policyTypes"] == ["Ingress"] and "ingress" not in deny["spec"]
    api = find(overlay, "Deployment", "sam3-api")
    (rule,) = policy_for(overlay, api)["spec"]["ingress"]
    assert sources(rule) == {INGRESS_NAMESPACE, MONITORING_NAMESPACE}
    assert [p["port"] for p in rule["ports"]] == ["http"]
    worker = find(overlay, "Deployment", "sam3-worker")
    (rule,) = policy_for(overlay, worker)["spec"]["ingress"]
    assert sources(rule) == {MONITORING_NAMESPACE}
    assert [p["port"] for p in rule["ports"]] == ["metrics"]
    assert {p["name"] for p in container(worker)["ports"]} == {"metrics"}


def test_prometheus_scrapes_every_pod_by_annotation_and_service_monitor(
    overlay: list[Manifest],
) -> None:
    for name in ("sam3-api", "sam3-worker"):
        deployment = find(overlay, "Deployment", name)
        ports = {p["name"]: p["containerPort"] for p in container(deployment)["ports"]}
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        monitor = find(overlay, "ServiceMonitor", name)
        (endpoint,) = monitor["spec"]["endpoints"]
        assert ports[endpoint["port"]] == int(annotations["prometheus.io/port"])
        assert endpoint["path"] == annotations["prometheus.io/path"] == "/metrics"
        service = find(overlay, "Service", name)
        assert (
            monitor["spec"]["selector"]["matchLabels"].items()
            <= service["metadata"]["labels"].items()
        )
        assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    worker = container(find(overlay, "Deployment", "sam3-worker"))
    config = find(overlay, "ConfigMap", "sam3-config")["data"]
    assert worker["ports"][0]["containerPort"] == settings_from(config).worker_metrics_port


def test_pods_spread_over_zones(overlay: list[Manifest]) -> None:
    for name in ("sam3-api", "sam3-worker"):
        deployment = find(overlay, "Deployment", name)
        (spread,) = deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
        assert spread["topologyKey"] == ZONE and spread["maxSkew"] == 1
        assert spread["labelSelector"]["matchLabels"] == pod_labels(deployment)


def test_workers_are_probed_by_their_heartbeat(overlay: list[Manifest]) -> None:
    worker = container(find(overlay, "Deployment", "sam3-worker"))
    for kind in ("startupProbe", "livenessProbe"):
        command = worker[kind]["exec"]["command"]
        assert command[0] == "sam3-service" and command[1] in cli_commands()
    heartbeat_s = settings_from({}).worker_heartbeat_s
    assert worker["livenessProbe"]["periodSeconds"] >= 3 * heartbeat_s


def test_keda_scales_the_workers_on_the_backlog_and_the_gpus(tmp_path: Path) -> None:
    keda, gpu = rendered("keda"), rendered("gpu")
    assert not [m for m in keda if m["kind"] == "HorizontalPodAutoscaler"], "KEDA makes its own"
    scaled = find(keda, "ScaledObject", "sam3-worker")
    hpa = find(gpu, "HorizontalPodAutoscaler", "sam3-worker")
    target = scaled["spec"]["scaleTargetRef"]
    assert find(keda, target["kind"], target["name"])
    assert scaled["spec"]["minReplicaCount"] == hpa["spec"]["minReplicas"]
    assert scaled["spec"]["maxReplicaCount"] == hpa["spec"]["maxReplicas"]
    triggers = {t["name"]: t for t in scaled["spec"]["triggers"]}
    assert {t["type"] for t in triggers.values()} == {"prometheus"}
    backlog, gpu_trigger = triggers["backlog"], triggers["gpu"]
    (external,) = [m["external"] for m in hpa["spec"]["metrics"] if m["type"] == "External"]
    assert backlog["metricType"] == external["target"]["type"] == "AverageValue"
    assert backlog["metadata"]["threshold"] == external["target"]["averageValue"]
    query = backlog["metadata"]["query"]
    same = {query: {"{}": BACKLOG}, adapter_query(external["metric"]["name"]): {"{}": BACKLOG}}
    assert evaluate(same, READY_SERIES, tmp_path) == "", "the HPA's backlog, every queue's"
    assert backlog["metadata"]["serverAddress"] == gpu_trigger["metadata"]["serverAddress"]
    assert "sam3_gpu_utilization_ratio" in gpu_trigger["metadata"]["query"]
    assert float(gpu_trigger["metadata"]["threshold"]) == 0.7


def test_a_cronjob_backs_up_the_store_every_day(overlay: list[Manifest]) -> None:
    job = find(overlay, "CronJob", "sam3-backup")
    assert (
        len(job["spec"]["schedule"].split()) == 5 and job["spec"]["concurrencyPolicy"] == "Forbid"
    )
    pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (main,) = pod["containers"]
    assert main["args"][0] in cli_commands() and main["args"][0] == "backup"
    mounts = {m["name"]: m["mountPath"] for m in main["volumeMounts"]}
    assert main["args"][-1] == mounts["backups"]
    claim = {v["name"]: v for v in pod["volumes"]}["backups"]["persistentVolumeClaim"]
    assert find(overlay, "PersistentVolumeClaim", claim["claimName"])
