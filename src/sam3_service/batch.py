"""Segmenting files from the command line, in this process or through a running service.

Each image gets `<stem>.json` (the result), `<stem>.overlay.png` and one `<stem>.mask-<id>.png`
per object, in the output folder.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx

from .domain import results, segment
from .domain.models import ModelHost
from .domain.params import SegmentParams
from .errors import Sam3Error
from .inference import Thresholds
from .media import decode_image, decode_rle, mask_to_png
from .runtime import choose_model, limits, model_host
from .settings import Settings


class Runner(Protocol):
    def segment(self, data: bytes, params: SegmentParams) -> dict[str, Any]: ...
    def close(self) -> None: ...


class LocalRunner:
    """Loads the model in this process (once) and runs it directly."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._host: ModelHost = model_host(settings, choose_model(settings))
        self._limits = limits(settings)
        self._defaults = Thresholds(settings.score_threshold, settings.mask_threshold)

    def load(self) -> str:
        """Load the model; returns a one-line description. Raises ModelNotReady."""
        info = self._host.load_blocking().info
        note = " (RANDOM weights: masks are meaningless)" if info.random else ""
        return f"{info.name} {info.version} on {info.device}/{info.dtype}{note}"

    def segment(self, data: bytes, params: SegmentParams) -> dict[str, Any]:
        decoded = decode_image(data, max_side=self._limits.max_image_side)
        return segment.segment_decoded(
            self._host.engine(), decoded, params, limits=self._limits, defaults=self._defaults
        )

    def close(self) -> None:
        self._host.close()


class RemoteRunner:
    """Sends each image to a running service's `POST /v1/segment`."""

    def __init__(self, url: str, *, api_key: str | None = None, timeout_s: float = 600) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout_s)

    def segment(self, data: bytes, params: SegmentParams) -> dict[str, Any]:
        body = params.model_dump(mode="json", exclude_none=True, exclude={"mask_key"})
        body["image"] = base64.b64encode(data).decode("ascii")
        response = self._client.post("/v1/segment", json=body)
        payload = response.json()
        if response.is_error:
            error = payload.get("error", {})
            raise Sam3Error(f"{response.status_code} {error.get('code')}: {error.get('message')}")
        return payload

    def close(self) -> None:
        self._client.close()


@dataclass
class Written:
    source: Path
    objects: int
    files: list[Path]


def segment_files(
    runner: Runner, paths: list[Path], params: SegmentParams, out_dir: Path
) -> Iterator[Written]:
    """Segment each file and write its outputs; yields after each file (for a progress bar)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in paths:
        data = path.read_bytes()
        result = runner.segment(data, params)
        yield Written(path, len(result["objects"]), write_outputs(result, data, out_dir, path.stem))


def write_outputs(result: dict[str, Any], data: bytes, out_dir: Path, stem: str) -> list[Path]:
    """Write the result JSON, one mask PNG per object and the overlay PNG."""
    files = [out_dir / f"{stem}.json"]
    files[0].write_text(json.dumps(result, indent=2))
    for obj in result["objects"]:
        mask_path = out_dir / f"{stem}.mask-{obj['id']}.png"
        mask_path.write_bytes(mask_to_png(decode_rle(obj["rle"])))
        files.append(mask_path)
    overlay_path = out_dir / f"{stem}.overlay.png"
    picture = decode_image(data, max_side=1 << 16).image
    overlay_path.write_bytes(results.render_overlay_png(result, picture))
    files.append(overlay_path)
    return files
