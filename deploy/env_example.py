"""Write deploy/.env.example from the service's Settings: `.venv/bin/python deploy/env_example.py`.

Every SAM3_* variable is listed with what it does and the value it takes in the compose
deployment: compose.yaml's own, else the image's (deploy/Dockerfile), else the default.
tests/deploy/test_env_example.py checks that the file is what `render()` makes.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

import yaml
from pydantic.fields import FieldInfo

from sam3_service.settings import Settings

DEPLOY = Path(__file__).resolve().parent
TARGET = DEPLOY / ".env.example"
PREFIX = "SAM3_"

HEADER = """\
# deploy/.env: the passwords and settings of deploy/compose.yaml. Copy this file to deploy/.env,
# fill in every empty value, then: docker compose -f deploy/compose.yaml up -d --build
# Written by `.venv/bin/python deploy/env_example.py` from the service's Settings.

# Passwords and keys of the servers: compose refuses to start while one is empty.
POSTGRES_PASSWORD=
RABBITMQ_PASSWORD=
S3_ACCESS_KEY=
S3_SECRET_KEY=
GRAFANA_ADMIN_PASSWORD=

# The image to run, the host port of nginx, the host folder that holds the model's sam3/ folder.
# SERVICE_IMAGE=sam3-service:0.1.0
# HTTP_PORT=8080
# MODELS_DIR=./models

# The service's settings (README, "Settings"). Uncomment a line to change its value.
"""

# What a field without a description does.
NOTES = {
    "device": "auto (CUDA with bfloat16 where present), cpu or cuda.",
    "score_threshold": "Default minimum score of an object, 0..1.",
    "mask_threshold": "Default threshold of a mask's probabilities, 0..1.",
    "host": "Interface the API listens on.",
    "port": "Port the API listens on.",
    "max_upload_bytes": "Largest image upload, bytes.",
    "max_image_side": "Largest width or height of an image, pixels.",
    "max_prompt_chars": "Longest text prompt.",
    "max_boxes": "Most boxes in one prompt.",
    "max_points": "Most points in one prompt.",
    "max_video_short_side": "Largest short side of a video, pixels.",
    "max_queue_depth": "Most tasks waiting in the queue before new ones get 503 busy.",
    "link_ttl_s": "How long a share link stays valid, seconds.",
    "log_level": "DEBUG, INFO, WARNING or ERROR.",
}
_REQUIRED = re.compile(r"^\$\{(\w+):\?")
_PASSWORD = re.compile(r"\$\{(\w+):\?[^}]*\}")
_IMAGE_ENV = re.compile(r"\b(SAM3_\w+)=(\S+)")


def render() -> str:
    """The text of .env.example for the current Settings, compose.yaml and Dockerfile."""
    compose_env = _compose_environment()
    image_env = _image_environment()
    entries = [
        _entry(name, field, compose_env, image_env) for name, field in Settings.model_fields.items()
    ]
    return HEADER + "\n".join(entries)


def _entry(
    name: str, field: FieldInfo, compose_env: dict[str, str], image_env: dict[str, str]
) -> str:
    variable = PREFIX + name.upper()
    about = field.description or NOTES.get(name)
    if about is None:
        raise SystemExit(f"Settings.{name} has no description: give it one, or a line in NOTES")
    if variable in compose_env:
        value = compose_env[variable]
        if _REQUIRED.match(value):
            return f"{_comment(about, 'Required: compose.yaml reads it from here.')}{variable}=\n"
        shown = _PASSWORD.sub(r"${\1}", value)  # ${X:?message} -> ${X}
        return f"{_comment(about, 'compose.yaml sets it.')}# {variable}={shown}\n"
    if variable in image_env:
        return f"{_comment(about, 'The image sets it.')}# {variable}={image_env[variable]}\n"
    default = _text(field.get_default(call_default_factory=True))
    return f"{_comment(about)}# {variable}={default}\n"


def _compose_environment() -> dict[str, str]:
    compose: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return {key: str(value) for key, value in compose["x-sam3-environment"].items()}


def _image_environment() -> dict[str, str]:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    return dict(_IMAGE_ENV.findall(dockerfile))


def _comment(*sentences: str) -> str:
    return (
        textwrap.fill(" ".join(sentences), width=100, initial_indent="# ", subsequent_indent="# ")
        + "\n"
    )


def _text(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


if __name__ == "__main__":
    TARGET.write_text(render())
    print(f"wrote {TARGET}")  # noqa: T201
