"""The image encoder both heads share: the ViT, run in batches, its outputs cached per image.

Concurrent calls for images not in the cache share one batched run of the backbone: a call
waits up to `batch_window_ms` for the others, `max_batch` images at most (None: 5 ms on a GPU,
no batching on the CPU). `compile_vision` (None: on a GPU) runs the backbone through
`torch.compile` with static shapes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image

from ..timing import StageTimer
from .base import EngineStats
from .batching import Arrival, Batcher
from .feature_cache import FeatureCache
from .head import Head
from .weights import Sam3Weights

__all__ = ["Encoding", "ImageEncoder"]

_GPU_BATCH_WINDOW_MS = 5.0  # the default wait for a batch on a GPU; on the CPU, no batching


@dataclass
class Encoding:
    """One image on its way through the encoder, before the weights' lock is taken."""

    image_sha256: str
    features: Sequence[torch.Tensor] | None  # the head's features, when the cache had them
    hidden: torch.Tensor | None  # else the ViT output to make them from
    hit: bool  # whether the cache had the image


class ImageEncoder:
    """Per image: the ViT output `(hidden,)` and each head's neck output, cached by bytes."""

    def __init__(
        self,
        weights: Sam3Weights,
        stats: EngineStats,
        *,
        cache_bytes: int,
        batch_window_ms: float | None,
        max_batch: int,
        compile_vision: bool | None,
    ) -> None:
        self._weights = weights
        self._stats = stats
        self._cache: FeatureCache[Sequence[torch.Tensor]] = FeatureCache(cache_bytes)
        gpu = weights.device.type == "cuda"
        default_ms = _GPU_BATCH_WINDOW_MS if gpu else 0.0
        window_ms = default_ms if batch_window_ms is None else batch_window_ms
        self.max_batch = max_batch if window_ms > 0 else 1
        self._batcher: Batcher[tuple[str, torch.Tensor], torch.Tensor] = Batcher(
            self._encode_batch,
            lock=weights.lock,
            window_s=window_ms / 1000,
            max_batch=self.max_batch,
        )
        backbone = weights.detector.vision_encoder.backbone
        self.compiled = gpu if compile_vision is None else compile_vision
        self._vit: Callable[[torch.Tensor], Any] = (
            torch.compile(backbone, dynamic=False) if self.compiled else backbone
        )
        if self.compiled:  # compile now, so that the first request does not wait for it
            side = weights.image_size
            with torch.inference_mode():
                self._vit(torch.zeros(1, 3, side, side, device=weights.device, dtype=weights.dtype))

    def begin(
        self, image: Image.Image, image_sha256: str, head: str, timer: StageTimer
    ) -> Encoding:
        """Outside the lock: the head's cached features, or the ViT output (from the cache
        when the image was seen, else from a batch shared with concurrent calls)."""
        with self._batcher.arrival() as arrival:
            features = self._cache.get((image_sha256, head))
            if features is not None:
                return Encoding(image_sha256, features, None, hit=True)
            hidden, hit = self._backbone(image, image_sha256, arrival, timer)
            return Encoding(image_sha256, None, hidden, hit)

    def finish(self, encoding: Encoding, head: Head, timer: StageTimer) -> tuple[torch.Tensor, ...]:
        """Under the weights' lock: the head's features, made from the ViT output if need be.

        Both the ViT output and each head's neck output are kept, so a second prompt on an
        image skips the whole image encoder, and a prompt for the other head skips the ViT.
        """
        if encoding.hidden is None:
            assert encoding.features is not None
            self._stats.vision_cache_hits += 1
            return tuple(encoding.features)
        with timer("encode_image"):
            features = head.features(encoding.hidden)
        self._cache.put((encoding.image_sha256, head.name), features)
        return features

    def clear(self) -> None:
        """Empty the cache."""
        self._cache.clear()

    def _backbone(
        self,
        image: Image.Image,
        image_sha256: str,
        arrival: Arrival[tuple[str, torch.Tensor], torch.Tensor],
        timer: StageTimer,
    ) -> tuple[torch.Tensor, bool]:
        key = (image_sha256, "backbone")
        cached = self._cache.get(key)
        if cached is not None:
            with self._weights.lock:
                self._stats.vision_cache_hits += 1
            return cached[0], True
        with timer("preprocess"):
            pixels = self._weights.processor.image_processor(images=image, return_tensors="pt")
            pixel_values = pixels["pixel_values"].to(self._weights.device, self._weights.dtype)
        with timer("encode_image"):
            hidden = arrival.submit((image_sha256, pixel_values))
        self._cache.put(key, (hidden,))
        return hidden, False

    def _encode_batch(self, items: list[tuple[str, torch.Tensor]]) -> list[torch.Tensor]:
        """The ViT output of each image, in one batch (an image given twice is encoded once).

        Runs under the weights' lock. Each output is its own tensor, so that the feature cache
        never holds a whole batch for one image's sake.
        """
        self._weights.check_loaded()
        unique = dict(reversed(items))  # one tensor per image, the first given
        order = {sha: row for row, sha in enumerate(dict.fromkeys(sha for sha, _ in items))}
        pixels = [unique[sha] for sha in order]
        with torch.inference_mode():
            batch = torch.cat(pixels + self._padding(pixels))
            hidden = self._vit(batch).last_hidden_state[: len(pixels)]
        self._stats.vision_encoder_runs += len(pixels)
        self._stats.vision_batches += 1
        if len(pixels) == 1:
            return [hidden] * len(items)
        outputs = [row.clone() for row in hidden.split(1)]
        return [outputs[order[sha]] for sha, _ in items]

    def _padding(self, pixels: list[torch.Tensor]) -> list[torch.Tensor]:
        """Compiled with static shapes, the backbone sees batches of 1, 2, 4, 8...: a batch is
        padded with copies of its first image up to the next of those sizes."""
        if not self.compiled:
            return []
        size = 1 << (len(pixels) - 1).bit_length()
        return [pixels[0]] * (size - len(pixels))
