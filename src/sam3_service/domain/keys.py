"""Every blob and cache key the tasks use, built here only: namespacing them (by owner, by
model version) is a change to this module alone. Keys name content or tasks, never URLs."""

from __future__ import annotations

import hashlib
import json
from typing import Any

IMAGE_PREFIX = "images/"
MASK_PREFIX = "masks/"
VIDEO_PREFIX = "videos/"
RESULT_FILE = "result.json"


def image_key(sha256: str) -> str:
    """An uploaded image, stored once per content."""
    return IMAGE_PREFIX + sha256


def image_sha256(key: str) -> str:
    """The content hash an `image_key` names."""
    return key.removeprefix(IMAGE_PREFIX)


def mask_key(data: bytes) -> str:
    """An input mask: its content's sha256."""
    return MASK_PREFIX + _sha256(data)


def video_key(sha256: str) -> str:
    """An uploaded video, stored once per content."""
    return VIDEO_PREFIX + sha256


def task_file_key(task_id: str, name: str) -> str:
    """A file a task wrote: `result.json`, and a video's `result.jsonl` and `overlay.mp4`."""
    return f"results/{task_id}/{name}"


def result_key(task_id: str) -> str:
    return task_file_key(task_id, RESULT_FILE)


def result_cache_key(
    model_version: str, owner: str, input_key: str, identity: dict[str, Any]
) -> str:
    """Same model, same owner, same input, same normalised prompt and options: same result.
    Per owner, so that nobody learns (from a cached answer) what another one sent."""
    return "result:" + _digest([model_version, owner, input_key, identity])


def inflight_key(
    owner: str, input_key: str, identity: dict[str, Any], model_version: str | None = None
) -> str:
    """The claim of the one task that serves an owner's identical requests in flight, on one
    model version (None: the one unrouted tasks run on)."""
    return "inflight:" + _digest([owner, input_key, identity, model_version])


def feature_key(owner: str, image_sha256: str) -> str:
    """The engine's feature-cache key of an image, per owner (whose images they are)."""
    return _sha256(f"{owner}\0{image_sha256}".encode())


def _digest(parts: list[Any]) -> str:
    return _sha256(json.dumps(parts, sort_keys=True).encode())


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
