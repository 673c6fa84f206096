"""Readers of the deployment files, and what they are checked against: the CLI, the routes,
the Settings and the tools that validate them."""

from __future__ import annotations

import re
import shutil
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from sam3_service.api.app import create_app
from sam3_service.cli import app as cli_app
from sam3_service.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
PREFIX = "SAM3_"


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, RUN, COPY...
    arguments: str


def dockerfile() -> list[Instruction]:
    """deploy/Dockerfile's instructions, continuation lines joined, comments left out."""
    lines = [line for line in read("Dockerfile").splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    instructions = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, arguments = line.strip().partition(" ")
            instructions.append(Instruction(keyword.upper(), arguments.strip()))
    return instructions


def dockerfile_env() -> dict[str, str]:
    """The variables that deploy/Dockerfile's ENV instructions set."""
    pairs = [i.arguments for i in dockerfile() if i.keyword == "ENV"]
    return dict(re.findall(r"(\w+)=(\S+)", " ".join(pairs)))


def read(relative: str) -> str:
    return (DEPLOY / relative).read_text()


def load_yaml(relative: str) -> Any:
    return yaml.safe_load(read(relative))


def load_yaml_documents(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


@cache
def cli_commands() -> frozenset[str]:
    """The `sam3-service` subcommands."""
    group = typer.main.get_command(cli_app)
    return frozenset(group.commands)  # type: ignore[attr-defined]


@cache
def routes() -> dict[str, frozenset[str]]:
    """The app's paths, each with its methods, from its OpenAPI document."""
    paths = create_app(Settings(_env_file=None)).openapi()["paths"]  # type: ignore[call-arg]
    return {path: frozenset(m.upper() for m in methods) for path, methods in paths.items()}


def settings_variables() -> set[str]:
    """Every SAM3_* variable that Settings reads."""
    return {PREFIX + name.upper() for name in Settings.model_fields}


def settings_from(variables: dict[str, str]) -> Settings:
    """Settings built from SAM3_* values alone, as the service would parse them."""
    fields = {
        k.removeprefix(PREFIX).lower(): v for k, v in variables.items() if k.startswith(PREFIX)
    }
    return Settings(_env_file=None, **fields)  # type: ignore[call-arg]


def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def require_tool(name: str) -> str:
    """The path of a validating tool; fails (never skips) when it is not installed."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if path is None:
        pytest.fail(f"`{name}` is not installed: run scripts/system-deps.sh (or `make test`)")
    return path


_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')
_MATCHERS = re.compile(r"\{[^}]*\}")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_RANGES = re.compile(r"\[[^\]]*\]")
_IDENTIFIERS = re.compile(r"\b([A-Za-z_:][A-Za-z0-9_:]*)\b(?!\s*\()")
_KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset"})


def promql_metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (not its functions, labels or keywords)."""
    for pattern in (_STRINGS, _MATCHERS, _GROUPING, _RANGES):
        expr = pattern.sub(" ", expr)
    return {name for name in _IDENTIFIERS.findall(expr) if name not in _KEYWORDS}
