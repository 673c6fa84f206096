"""deploy/Dockerfile, read (no Docker engine runs here): what it copies exists and goes into the
build context, its pins are the project's, and its commands, variables and probe are real."""

from __future__ import annotations

import json
import re

from packaging.requirements import Requirement

from tests.deploy.files import (
    DEPLOY,
    ROOT,
    cli_commands,
    dockerfile,
    dockerfile_env,
    pyproject,
    routes,
    settings_from,
    settings_variables,
)


def arguments_of(keyword: str) -> list[str]:
    return [i.arguments for i in dockerfile() if i.keyword == keyword]


def test_builds_on_python_311_slim_and_runs_as_a_non_root_user() -> None:
    assert arguments_of("FROM") == ["python:3.11-slim"]
    (user,) = arguments_of("USER")
    assert user.split(":")[0] not in ("root", "0")


def test_every_copied_path_exists_and_is_in_the_build_context() -> None:
    allowed = {
        line.removeprefix("!").rstrip("/")
        for line in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    for arguments in arguments_of("COPY"):
        *sources, _destination = arguments.split()
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: no such path"
            assert source.rstrip("/") in allowed, f"COPY {source}: left out by the .dockerignore"


def test_torch_and_torchvision_are_pinned_as_the_project_pins_them() -> None:
    project = {
        requirement.name: str(requirement.specifier)
        for requirement in map(Requirement, pyproject()["project"]["dependencies"])
    }
    installs = " ".join(arguments_of("RUN"))
    for name in ("torch", "torchvision"):
        assert project[name].startswith("==")
        assert re.search(rf"\b{name}{re.escape(project[name])}(\s|$)", installs), name


def test_the_entrypoint_is_the_cli_and_the_default_command_one_of_its_commands() -> None:
    (entrypoint,) = map(json.loads, arguments_of("ENTRYPOINT"))
    (command,) = map(json.loads, arguments_of("CMD"))
    assert entrypoint == ["sam3-service"]
    assert pyproject()["project"]["scripts"]["sam3-service"] == "sam3_service.cli:app"
    assert command == ["serve"]
    assert command[0] in cli_commands()


def test_its_sam3_variables_are_settings_and_serve_on_the_exposed_port() -> None:
    env = dockerfile_env()
    sam3 = {k: v for k, v in env.items() if k.startswith("SAM3_")}
    assert set(sam3) <= settings_variables()
    settings = settings_from(sam3)
    assert settings.model == "/models/sam3"
    assert arguments_of("EXPOSE") == [str(settings.port)]
    assert env["HF_HUB_OFFLINE"] == "1"  # weights are mounted, never downloaded


def test_the_healthcheck_asks_the_liveness_route() -> None:
    (healthcheck,) = arguments_of("HEALTHCHECK")
    assert "/health" in healthcheck and "SAM3_PORT" in healthcheck
    assert "GET" in routes()["/health"]
