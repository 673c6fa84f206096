"""Segmenting files from the command line, in this process or through a running service.

Each image gets `<stem>.json` (the result), `<stem>.overlay.png` and one `<stem>.mask-<id>.png`
per object, in the output folder. Each video gets `<stem>.json` (the summary), `<stem>.jsonl`
(a line per frame) and `<stem>.overlay.mp4`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx

from .domain import results, segment, video
from .domain.models import ModelHost
from .domain.params import SegmentParams
from .errors import Sam3Error
from .inference import Thresholds
from .media import decode_image, decode_rle, is_video, mask_to_png
from .runtime import choose_model, limits, model_host
from .settings import Settings

FrameProgress = Callable[[int, int], None]  # (frames done, frames in all)
_POLL_S = 0.2


class Runner(Protocol):
    def segment(self, data: bytes, params: SegmentParams) -> dict[str, Any]: ...
    def track_video(
        self,
        path: Path,
        request: VideoRequest,
        files: VideoFiles,
        on_progress: FrameProgress,
    ) -> dict[str, Any]: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class VideoRequest:
    """What to track in a video, and how much of it."""

    params: SegmentParams
    options: video.VideoOptions


@dataclass(frozen=True)
class VideoFiles:
    """Where one video's outputs go."""

    summary: Path
    lines: Path
    overlay: Path

    @classmethod
    def named(cls, out_dir: Path, stem: str) -> VideoFiles:
        return cls(
            out_dir / f"{stem}.json", out_dir / f"{stem}.jsonl", out_dir / f"{stem}.overlay.mp4"
        )

    def all(self) -> list[Path]:
        return [self.summary, self.lines, self.overlay]


class LocalRunner:
    """Loads the model in this process (once) and runs it directly."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._host: ModelHost = model_host(settings, choose_model(settings))
        self._limits = limits(settings)
        self._defaults = Thresholds(settings.score_threshold, settings.mask_threshold)

    def load(self) -> str:
        """Load the model; returns a one-line description. Raises ModelNotReady."""
        info = self._host.load_blocking(log_failure=False).info
        note = " (RANDOM weights: masks are meaningless)" if info.random else ""
        return f"{info.name} {info.version} on {info.device}/{info.dtype}{note}"

    def segment(self, data: bytes, params: SegmentParams) -> dict[str, Any]:
        decoded = decode_image(data, max_side=self._limits.max_image_side)
        return segment.segment_decoded(
            self._host.engine(), decoded, params, limits=self._limits, defaults=self._defaults
        )

    def track_video(
        self, path: Path, request: VideoRequest, files: VideoFiles, on_progress: FrameProgress
    ) -> dict[str, Any]:
        """Track through a video in this process; writes the files, returns the summary."""

        async def progress(done: int, total: int) -> None:
            on_progress(done, total)

        summary = asyncio.run(
            video.track_video(
                self._host,
                path.read_bytes(),
                request.params,
                request.options,
                limits=self._limits,
                defaults=self._defaults,
                jsonl=files.lines,
                overlay=files.overlay,
                on_progress=progress,
            )
        )
        files.summary.write_text(json.dumps(summary, indent=2))
        return summary

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
        return _payload(self._client.post("/v1/segment", json=body))

    def track_video(
        self, path: Path, request: VideoRequest, files: VideoFiles, on_progress: FrameProgress
    ) -> dict[str, Any]:
        """Queue the video as a task, follow its frames, then download its files."""
        fields = request.params.model_dump(mode="json", exclude_none=True, exclude={"mask_key"})
        fields |= request.options.model_dump(exclude_none=True)
        form = {k: v if isinstance(v, str) else json.dumps(v) for k, v in fields.items()}
        form["mask_format"] = ",".join(request.params.mask_format)
        with path.open("rb") as upload:
            task = _payload(
                self._client.post("/v1/tasks", files={"file": (path.name, upload)}, data=form)
            )
        task = self._follow(task["links"]["task"], on_progress)
        links = task["links"]
        for url, target in (
            (links["result_json"], files.summary),
            (links["result_jsonl"], files.lines),
            (links["overlay_mp4"], files.overlay),
        ):
            target.write_bytes(self._download(url))
        summary: dict[str, Any] = json.loads(files.summary.read_bytes())
        return summary

    def _follow(self, task_url: str, on_progress: FrameProgress) -> dict[str, Any]:
        """Poll a task until it ends, reporting its frames. Raises Sam3Error if it fails."""
        while True:
            task = _payload(self._client.get(task_url, params={"include_result": "false"}))
            if task.get("frames"):
                on_progress(task["frames"]["done"], task["frames"]["total"])
            if task["status"] == "succeeded":
                return task
            if task["status"] in ("failed", "cancelled"):
                error = task.get("error") or {}
                raise Sam3Error(f"the task {task['status']}: {error.get('message', '')}".strip())
            time.sleep(_POLL_S)

    def _download(self, url: str) -> bytes:
        response = self._client.get(url)
        if response.is_error:
            _payload(response)
        return response.content

    def close(self) -> None:
        self._client.close()


def is_video_file(path: Path) -> bool:
    """Whether the file starts like a video container."""
    with path.open("rb") as file:
        return is_video(file.read(64))


def _payload(response: httpx.Response) -> dict[str, Any]:
    """The JSON body of a service's answer. Raises Sam3Error for an error status."""
    payload: dict[str, Any] = response.json()
    if response.is_error:
        error = payload.get("error", {})
        raise Sam3Error(f"{response.status_code} {error.get('code')}: {error.get('message')}")
    return payload


@dataclass
class Written:
    source: Path
    objects: int
    files: list[Path]


@dataclass
class Failed:
    source: Path
    message: str


def segment_files(
    runner: Runner, paths: list[Path], params: SegmentParams, out_dir: Path
) -> Iterator[Written | Failed]:
    """Segment each file and write its outputs; yields after each file (for a progress bar).

    A file the service refuses (a point outside it, a corrupt picture) yields Failed, and the
    next files are still segmented."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in paths:
        data = path.read_bytes()
        try:
            result = runner.segment(data, params)
        except Sam3Error as exc:
            yield Failed(path, exc.message)
            continue
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
