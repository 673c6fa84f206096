"""What crosses the inference boundary: prompts in, detections out, and the Engine protocol."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

import numpy as np
from PIL import Image


class PromptMode(StrEnum):
    """Which SAM 3 head answers a prompt.

    `concept` finds every instance of a text phrase and/or exemplar boxes (`Sam3Model`);
    `interactive` segments the one object marked by points and/or a single box
    (`Sam3TrackerModel`, SAM-style clicks); `auto` picks from the prompt's content.
    """

    AUTO = "auto"
    CONCEPT = "concept"
    INTERACTIVE = "interactive"


@dataclass(frozen=True)
class Box:
    """A box in input-image pixels, `x0 < x1`, `y0 < y1`; negative boxes mark what to exclude."""

    x0: float
    y0: float
    x1: float
    y1: float
    positive: bool = True

    def as_list(self) -> list[float]:
        return [self.x0, self.y0, self.x1, self.y1]


@dataclass(frozen=True)
class Point:
    """A click in input-image pixels; negative clicks mark background."""

    x: float
    y: float
    positive: bool = True


@dataclass(frozen=True)
class Prompt:
    """Everything a user may say about what to segment in one image."""

    text: str | None = None
    boxes: tuple[Box, ...] = ()
    points: tuple[Point, ...] = ()
    mask: np.ndarray | None = field(default=None, compare=False)  # bool HxW, interactive only
    mode: PromptMode = PromptMode.AUTO

    def resolved_mode(self) -> PromptMode:
        """`auto` becomes interactive for clicks, or for one positive box without text."""
        if self.mode is not PromptMode.AUTO:
            return self.mode
        if self.points or self.mask is not None:
            return PromptMode.INTERACTIVE
        if self.text is None and len(self.boxes) == 1 and self.boxes[0].positive:
            return PromptMode.INTERACTIVE
        return PromptMode.CONCEPT


@dataclass(frozen=True)
class Thresholds:
    """Post-processing: detections scoring under `score` are dropped; mask logits over `mask`."""

    score: float = 0.5
    mask: float = 0.5


@dataclass(frozen=True)
class ModelInfo:
    """What is loaded: shown in every result so that a random model is never mistaken for SAM 3."""

    name: str
    version: str
    random: bool
    device: str
    dtype: str


@dataclass
class Detection:
    """One object: a score, an `[x0, y0, x1, y1]` box in input pixels and a bool HxW mask."""

    score: float
    box: tuple[float, float, float, float]
    mask: np.ndarray


@dataclass
class Segmentation:
    """An engine's answer for one image, objects sorted by descending score."""

    detections: list[Detection]
    width: int
    height: int
    timings_ms: dict[str, float]
    vision_cache_hit: bool


@dataclass(frozen=True)
class VideoPrompt:
    """What to track through a video.

    Text finds and tracks every instance of a concept (`Sam3VideoModel`); clicks and/or one box
    mark a single object on frame `frame` (counted among the frames given to the session, from
    0), which the tracker follows from there on.
    """

    text: str | None = None
    points: tuple[Point, ...] = ()
    box: Box | None = None
    frame: int = 0


@dataclass(frozen=True)
class TrackingSpec:
    """What one video session tracks: the prompt, the frames' size, thresholds, an object cap."""

    prompt: VideoPrompt
    width: int
    height: int
    thresholds: Thresholds
    max_objects: int


@dataclass
class TrackedObject:
    """One object on one frame: its id (stable across frames), score, box and bool HxW mask."""

    id: int
    score: float
    box: tuple[float, float, float, float]
    mask: np.ndarray


@dataclass
class TrackedFrame:
    """The objects on one frame; `index` counts the frames given to the session, from 0."""

    index: int
    objects: list[TrackedObject]


class VideoSession(Protocol):
    """Tracking state for one video: give it frames in order, read back final results.

    Results may lag `delay` frames behind (the time the model takes to confirm new objects).
    Calls block like the engine's; run them on the thread that runs the engine.
    """

    delay: int

    def push(self, frame: np.ndarray) -> list[TrackedFrame]:
        """Track an HxWx3 uint8 RGB frame; returns the frames whose results became final."""
        ...

    def finish(self) -> list[TrackedFrame]:
        """After the last frame: the results still held back."""
        ...

    def close(self) -> None:
        """Release the session's tensors and state. Idempotent."""
        ...


@dataclass
class EngineStats:
    """Counters that tests and metrics read: how often each encoder really ran."""

    vision_encoder_runs: int = 0
    vision_cache_hits: int = 0
    text_encoder_runs: int = 0
    text_cache_hits: int = 0
    vision_batches: int = 0  # runs of the image encoder; vision_encoder_runs counts images


class Engine(Protocol):
    """A loaded SAM 3. Calls block; callers run them in a worker thread, never on the event loop."""

    info: ModelInfo
    stats: EngineStats
    max_batch: int  # calls it gathers into one batch at most: run that many at once

    def segment(
        self, image: Image.Image, image_sha256: str, prompt: Prompt, thresholds: Thresholds
    ) -> Segmentation:
        """Segment an RGB image. Raises InvalidInput for a prompt the model cannot take."""
        ...

    def open_video(self, spec: TrackingSpec) -> VideoSession:
        """Start tracking `spec.prompt` in a video of `spec`'s frame size. Raises InvalidInput."""
        ...

    def close(self) -> None:
        """Free the model and its caches."""
        ...
