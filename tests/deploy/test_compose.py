"""deploy/compose.yaml, read (no Docker engine runs here): the services the design asks for,
commands the CLI has, settings the service accepts, and files and services that exist."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.deploy.files import (
    DEPLOY,
    cli_commands,
    dockerfile_env,
    load_yaml,
    read,
    settings_from,
    settings_variables,
)

SERVICES = {
    "nginx",
    "api",
    "worker",
    "rabbitmq",
    "redis",
    "postgres",
    "s3",
    "prometheus",
    "grafana",
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_yaml("compose.yaml")


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]


def sam3_environment(compose: dict[str, Any]) -> dict[str, str]:
    """The API's and workers' SAM3_* values, with placeholder passwords."""
    environment = compose["x-sam3-environment"]
    return {
        name: re.sub(r"\$\{(\w+)[^}]*\}", r"\1", str(value))
        for name, value in environment.items()
        if name.startswith("SAM3_")
    }


def mount(volume: str) -> tuple[str, str]:
    """The source and target of a short volume syntax, `${VAR:-default}` sources included."""
    match = re.fullmatch(r"(\$\{[^}]*\}|[^:]+):([^:]+)(:ro)?", volume)
    assert match is not None, volume
    return match.group(1), match.group(2)


def test_it_runs_every_part_of_the_design(services: dict[str, Any]) -> None:
    assert set(services) == SERVICES
    assert services["api"]["deploy"]["replicas"] == 2


def test_api_and_worker_run_the_one_image_with_cli_commands(services: dict[str, Any]) -> None:
    api, worker = services["api"], services["worker"]
    assert api["image"] == worker["image"] and api["build"] == worker["build"]
    assert (DEPLOY / api["build"]["context"] / api["build"]["dockerfile"]).is_file()
    assert api["command"] == ["serve"] and worker["command"] == ["worker"]
    assert {api["command"][0], worker["command"][0]} <= cli_commands()


def test_the_service_gets_production_backends_with_auth_on(compose: dict[str, Any]) -> None:
    environment = sam3_environment(compose)
    assert set(environment) <= settings_variables()
    settings = settings_from(environment)
    assert settings.auth_enabled
    assert settings.database_url.startswith("postgresql+psycopg://")
    assert settings.broker_url.startswith("amqp://")
    assert settings.redis_url.startswith("redis://")
    assert settings.storage_url.startswith("s3://")
    assert settings.link_secret, "replicas must share the secret of share links"


def test_urls_name_compose_services(compose: dict[str, Any], services: dict[str, Any]) -> None:
    environment = sam3_environment(compose)
    hosts = {
        re.sub(r"^.*@|:\d+.*$|^\w+://", "", environment[name])
        for name in ("SAM3_DATABASE_URL", "SAM3_BROKER_URL", "SAM3_REDIS_URL")
    }
    hosts.add(re.sub(r"^\w+://|:\d+$", "", environment["SAM3_S3_ENDPOINT_URL"]))
    assert hosts <= set(services)


def test_every_server_has_a_healthcheck(services: dict[str, Any]) -> None:
    for name, service in services.items():
        if name == "api":
            assert "healthcheck" not in service  # the image's HEALTHCHECK on /health
        elif name == "worker":
            assert service["healthcheck"] == {"disable": True}  # no HTTP server to ask
        else:
            assert service["healthcheck"]["test"][0] == "CMD", name


def test_dependencies_exist_and_wait_for_health(services: dict[str, Any]) -> None:
    for name, service in services.items():
        for other, condition in service.get("depends_on", {}).items():
            assert other in services, f"{name} depends on unknown {other}"
            assert condition == {"condition": "service_healthy"}
            assert services[other].get("healthcheck", {}).get("disable") is not True


def test_mounted_files_and_volumes_exist(compose: dict[str, Any]) -> None:
    declared = set(compose["volumes"])
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            source, _ = mount(volume)
            if source.startswith("./"):
                assert (DEPLOY / source).exists(), source
            elif not source.startswith("$"):
                assert source in declared, source


def test_the_worker_mounts_the_models_where_the_image_looks(services: dict[str, Any]) -> None:
    model = dockerfile_env()["SAM3_MODEL"]
    targets = [mount(volume)[1] for volume in services["worker"]["volumes"]]
    assert any(model.startswith(target + "/") for target in targets)


def test_nginx_balances_over_the_api_service(services: dict[str, Any]) -> None:
    upstream = re.search(r"upstream sam3_api \{(.*?)\}", read("nginx/nginx.conf"), re.DOTALL)
    assert upstream is not None
    servers = re.findall(r"^\s*server (\S+):(\d+)", upstream.group(1), re.MULTILINE)
    assert servers == [("api", dockerfile_env()["SAM3_PORT"])]
    mounts = [mount(volume) for volume in services["nginx"]["volumes"]]
    assert ("./nginx/nginx.conf", "/etc/nginx/nginx.conf") in mounts


def test_prometheus_scrapes_compose_services(services: dict[str, Any]) -> None:
    config = load_yaml("prometheus/prometheus.yml")
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    (api,) = jobs["sam3-api"]["dns_sd_configs"]
    assert api["names"] == ["api"] and str(api["port"]) == dockerfile_env()["SAM3_PORT"]
    (rabbitmq,) = jobs["rabbitmq"]["static_configs"]
    assert {target.split(":")[0] for target in rabbitmq["targets"]} <= set(services)
    mounts = {mount(volume)[1] for volume in services["prometheus"]["volumes"]}
    assert {"/etc/prometheus/prometheus.yml", "/etc/prometheus/alerts.yml"} <= mounts


def test_grafana_is_provisioned_with_prometheus_and_the_dashboards(
    services: dict[str, Any],
) -> None:
    (datasource,) = load_yaml("grafana/provisioning/datasources/prometheus.yaml")["datasources"]
    assert re.sub(r"^\w+://|:\d+$", "", datasource["url"]) in services
    (provider,) = load_yaml("grafana/provisioning/dashboards/sam3.yaml")["providers"]
    mounts = dict(mount(volume) for volume in services["grafana"]["volumes"])
    assert mounts["./grafana/dashboards"] == provider["options"]["path"]


def test_the_gpu_file_gives_the_worker_a_gpu() -> None:
    worker = load_yaml("compose.gpu.yaml")["services"]["worker"]
    (device,) = worker["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
    assert settings_from(worker["environment"]).device == "cuda"
