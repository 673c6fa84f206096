"""Every instance of a text prompt through a video: `Sam3VideoModel` detects and tracks."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from transformers import Sam3VideoModel
from transformers.models.sam3_video.modeling_sam3_video import (
    Sam3VideoInferenceSession,
    Sam3VideoSegmentationOutput,
)

from . import video_memory as memory
from .base import TrackedFrame, TrackingSpec
from .video_session import FrameSession
from .weights import Sam3Weights

__all__ = ["ConceptSession", "mask_nms"]


class ConceptSession(FrameSession):
    """Every instance of a text prompt, detected and tracked by `Sam3VideoModel`."""

    def __init__(self, weights: Sam3Weights, spec: TrackingSpec) -> None:
        assert spec.prompt.text is not None
        processor = weights.video_processor
        state = processor.init_video_session(inference_device=weights.device, dtype=weights.dtype)
        processor.add_text_prompt(state, spec.prompt.text)
        super().__init__(weights, state, spec)
        self._model = weights.video
        self._tracker_config = memory.tracker_config(self._model)
        self._settings = _detection_settings(self._model, spec.thresholds.score, spec.max_objects)
        self.delay = max(self._model.hotstart_delay - 1, 0)
        self._held: deque[_FrameOutput] = deque()

    def push(self, frame: np.ndarray) -> list[TrackedFrame]:
        """Detect and track on the next frame; returns the frames whose results are final."""
        state = self._open_state()
        index = self._pushed
        with torch.inference_mode():
            pixels = self._pixels(frame)
            with self._weights.lock, _attributes(self._model, self._settings):
                state.add_new_frame(pixels, index)
                output = _FrameOutput.of(self._model(inference_session=state, frame_idx=index))
            self._remove_duplicates(state, output)
            state.hotstart_removed_obj_ids.update(output.removed)
            memory.prune_tracker(state, index, self._tracker_config)
            memory.prune_logs(state, index, self._model)
            self._pushed += 1
            self._held.append(output)
            ready = []
            while len(self._held) > self.delay:
                ready.append(self._result(self._held.popleft()))
        return ready

    def finish(self) -> list[TrackedFrame]:
        """After the last frame: the results still held back."""
        with torch.inference_mode():
            ready = [self._result(output) for output in self._held]
        self._held.clear()
        return ready

    def close(self) -> None:
        """Release the session's tensors and state. Idempotent."""
        self._held.clear()
        super().close()

    def _remove_duplicates(self, state: Sam3VideoInferenceSession, output: _FrameOutput) -> None:
        """Mask NMS among the objects first seen on this frame: the copies leave the session."""
        first_seen = state.obj_first_frame_idx
        born = [obj for obj in output.masks if first_seen.get(obj) == output.index]
        if len(born) < 2:
            return
        masks = torch.cat([output.masks[obj] for obj in born]) > 0
        scores = torch.tensor([output.scores[obj] for obj in born])
        keep = mask_nms(masks, scores, self._model.det_nms_thresh)
        for obj, kept in zip(born, keep, strict=True):
            if not kept:
                state.remove_object(obj)
                state.removed_obj_ids.add(obj)
                state.hotstart_removed_obj_ids.add(obj)
                del output.masks[obj]

    def _result(self, output: _FrameOutput) -> TrackedFrame:
        """Full-size masks of the objects still standing, each scored by this frame's tracker."""
        outputs = {
            "obj_id_to_mask": {obj: mask - self._mask_logit for obj, mask in output.masks.items()},
            "obj_id_to_score": output.scores,
            "obj_id_to_tracker_score": output.tracker_scores,
            "suppressed_obj_ids": output.suppressed,
        }
        result = self._weights.video_processor.postprocess_outputs(
            self._open_state(), outputs, original_sizes=[list(self._size)]
        )
        objects = []
        for obj_id, mask in zip(result["object_ids"].tolist(), result["masks"], strict=True):
            score = output.tracker_scores.get(obj_id, output.scores[obj_id])
            tracked = self._tracked(obj_id, score, mask.cpu().numpy())
            if tracked is not None:
                objects.append(tracked)
        return TrackedFrame(output.index, objects)


@dataclass
class _FrameOutput:
    """What `Sam3VideoModel` says of one frame, with the fields it always fills."""

    index: int
    masks: dict[int, torch.Tensor]  # low-resolution mask logits by object id
    scores: dict[int, float]  # detection score of each object
    tracker_scores: dict[int, float]  # the tracker's confidence on this frame
    suppressed: set[int]
    removed: set[int]

    @classmethod
    def of(cls, output: Sam3VideoSegmentationOutput) -> _FrameOutput:
        return cls(
            index=int(output.frame_idx or 0),
            masks=dict(output.obj_id_to_mask or {}),
            scores=dict(output.obj_id_to_score or {}),
            tracker_scores=dict(output.obj_id_to_tracker_score or {}),
            suppressed=set(output.suppressed_obj_ids or ()),
            removed=set(output.removed_obj_ids or ()),
        )


def mask_nms(masks: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> list[bool]:
    """Greedy NMS on (N, H, W) bool masks: which to keep, best scores first."""
    flat = masks.flatten(1).float()
    overlap = flat @ flat.T
    area = flat.sum(dim=1)
    iou = (overlap / (area[:, None] + area[None, :] - overlap).clamp(min=1)).cpu()
    keep = torch.zeros(len(scores), dtype=torch.bool)
    for candidate in torch.argsort(scores, descending=True, stable=True).tolist():
        if not bool((iou[candidate][keep] > iou_threshold).any()):
            keep[candidate] = True
    return keep.tolist()


def _detection_settings(
    model: Sam3VideoModel, score: float, max_objects: int
) -> dict[str, float | int]:
    """The model attributes one task sets: its detection threshold and its object cap.

    A new track needs a higher score than a detection; the library's ratio of the two (0.7 to
    0.5 in SAM 3) is kept, so the default threshold gives the library's behaviour.
    """
    config = model.config
    ratio = config.new_det_thresh / config.score_threshold_detection
    return {
        "score_threshold_detection": score,
        "new_det_thresh": min(1.0, score * ratio),
        "max_num_objects": max_objects,
    }


@contextmanager
def _attributes(model: Sam3VideoModel, values: dict[str, float | int]) -> Iterator[None]:
    """Set plain attributes that the model reads per call, and put them back afterwards.

    Patching is forced: `Sam3VideoModel` reads these three from `self` deep inside its forward
    (`run_detection`, `_associate_det_trk`, the update planner) and takes no argument for them.
    Only under the weights' lock: the image heads never read these, other videos wait.
    """
    saved = {name: getattr(model, name) for name in values}
    for name, value in values.items():
        setattr(model, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(model, name, value)
