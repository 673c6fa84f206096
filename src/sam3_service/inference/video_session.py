"""What both kinds of video session share: frame checks, preprocessing, results, closing."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from transformers.models.sam3_tracker_video.modeling_sam3_tracker_video import (
    Sam3TrackerVideoInferenceSession,
)
from transformers.models.sam3_video.modeling_sam3_video import Sam3VideoInferenceSession

from ..errors import InvalidInput
from ..media import mask_bbox
from .base import TrackedObject, TrackingSpec
from .postprocess import box_tuple, finite_logit
from .weights import Sam3Weights

__all__ = ["FrameSession", "TrackerState"]

TrackerState = Sam3VideoInferenceSession | Sam3TrackerVideoInferenceSession


class FrameSession:
    """A library inference session fed one frame at a time; `delay` frames of results lag."""

    delay = 0

    def __init__(self, weights: Sam3Weights, state: TrackerState, spec: TrackingSpec) -> None:
        self._weights = weights
        self._state: TrackerState | None = state
        self._size = (spec.height, spec.width)
        self._mask_logit = finite_logit(spec.thresholds.mask)
        self._pushed = 0

    def close(self) -> None:
        """Release the session's tensors and state. Idempotent."""
        if self._state is not None:
            self._state.reset_inference_session()
            self._state.processed_frames = None
            self._state = None

    def _open_state(self) -> Any:
        if self._state is None:
            raise RuntimeError("this video session is closed")
        return self._state

    def _pixels(self, frame: np.ndarray) -> torch.Tensor:
        """The frame as the model's input: resized and normalised, on the CPU."""
        height, width = self._size
        if frame.shape != (height, width, 3) or frame.dtype != np.uint8:
            raise InvalidInput(
                f"a frame must be {height}x{width}x3 uint8, got {frame.shape} {frame.dtype}"
            )
        pixels: torch.Tensor = self._weights.video_processor(
            images=frame, return_tensors="pt"
        ).pixel_values[0]
        return pixels

    def _tracked(self, obj_id: int, score: float, mask: np.ndarray) -> TrackedObject | None:
        box = mask_bbox(mask)
        if box is None:
            return None
        return TrackedObject(obj_id, round(float(score), 5), box_tuple(box), mask)
