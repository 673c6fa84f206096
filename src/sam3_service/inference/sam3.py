"""The SAM 3 engine: one copy of the weights answers concept and interactive prompts."""

from __future__ import annotations

import gc

import torch
from PIL import Image

from ..timing import StageTimer
from .base import (
    EngineStats,
    ModelInfo,
    Prompt,
    PromptMode,
    Segmentation,
    Thresholds,
    TrackingSpec,
    VideoSession,
)
from .concept import ConceptHead
from .head import Call
from .interactive import InteractiveHead
from .prompts import check_prompt
from .video import open_video_session
from .vision import ImageEncoder
from .weights import Sam3Weights

__all__ = ["STAGES", "Sam3Engine"]

STAGES = ("preprocess", "encode_image", "encode_prompt", "decode", "postprocess")


class Sam3Engine:
    """SAM 3 through `transformers`, on one `Sam3Weights`.

    Both heads read the same ViT backbone, whose output is cached per image and batched
    across concurrent calls (see `ImageEncoder` for `batch_window_ms`, `max_batch` and
    `compile_vision`); the concept head also caches text features. Video sessions run on the
    same weights, one frame at a time under their lock.
    """

    def __init__(
        self,
        weights: Sam3Weights,
        *,
        name: str,
        version: str,
        random: bool,
        vision_cache_bytes: int = 1 << 30,
        text_cache_entries: int = 1024,
        batch_window_ms: float | None = None,
        max_batch: int = 8,
        compile_vision: bool | None = None,
    ) -> None:
        self.weights = weights
        self.info = ModelInfo(
            name=name,
            version=version,
            random=random,
            device=str(weights.device),
            dtype=str(weights.dtype).removeprefix("torch."),
        )
        self.stats = EngineStats()
        self._concept = ConceptHead(weights, self.stats, text_cache_entries=text_cache_entries)
        self._interactive = InteractiveHead(weights)
        self._encoder = ImageEncoder(
            weights,
            self.stats,
            cache_bytes=vision_cache_bytes,
            batch_window_ms=batch_window_ms,
            max_batch=max_batch,
            compile_vision=compile_vision,
        )
        self.max_batch = self._encoder.max_batch
        self._sync = torch.cuda.synchronize if weights.device.type == "cuda" else None

    def segment(
        self, image: Image.Image, image_sha256: str, prompt: Prompt, thresholds: Thresholds
    ) -> Segmentation:
        """Segment an RGB image. Raises InvalidInput for a prompt the model cannot take."""
        mode = prompt.resolved_mode()
        width, height = image.size
        check_prompt(prompt, mode, width, height)
        # Waiting for the GPU at the end of each stage charges each stage its own work.
        timer = StageTimer(STAGES, sync=self._sync)
        head = self._concept if mode is PromptMode.CONCEPT else self._interactive
        call = Call(prompt, thresholds, (height, width), timer)
        with torch.inference_mode():
            encoding = self._encoder.begin(image, image_sha256, head.name, timer)
            with self.weights.lock:
                self.weights.check_loaded()
                features = self._encoder.finish(encoding, head, timer)
                detections = head.answer(features, call)
        return Segmentation(detections, width, height, timer.ms, vision_cache_hit=encoding.hit)

    def open_video(self, spec: TrackingSpec) -> VideoSession:
        """Start tracking `spec.prompt` in a video of `spec`'s frame size. Raises InvalidInput."""
        return open_video_session(self.weights, spec)

    def close(self) -> None:
        """Free the model and its caches."""
        with self.weights.lock:
            self.weights.release()
            self._encoder.clear()
            self._concept.clear()
        gc.collect()
        if self.weights.device.type == "cuda":
            torch.cuda.empty_cache()
