"""One object marked by clicks and/or a box, followed through a video by SAM 3's tracker."""

from __future__ import annotations

import numpy as np
import torch
from transformers.models.sam3.modeling_sam3 import Sam3VisionEncoderOutput
from transformers.models.sam3_tracker_video.modeling_sam3_tracker_video import (
    Sam3TrackerVideoInferenceSession,
    Sam3TrackerVideoSegmentationOutput,
)

from . import video_memory as memory
from .base import TrackedFrame, TrackedObject, TrackingSpec
from .prompts import click_inputs
from .video_session import FrameSession
from .weights import Sam3Weights

__all__ = ["ObjectSession"]

_OBJECT_ID = 1  # the one object that clicks or a box mark


class ObjectSession(FrameSession):
    """The one object marked by clicks and/or a box on one frame, followed by the tracker."""

    def __init__(self, weights: Sam3Weights, spec: TrackingSpec) -> None:
        processor = weights.tracker_video_processor
        state = processor.init_video_session(inference_device=weights.device, dtype=weights.dtype)
        super().__init__(weights, state, spec)
        self._prompt = spec.prompt
        self._tracker = weights.video.tracker_model
        self._tracker_config = memory.tracker_config(weights.video)

    def push(self, frame: np.ndarray) -> list[TrackedFrame]:
        """Track the object on the next frame (nothing before the prompt's frame)."""
        state = self._open_state()
        index = self._pushed
        self._pushed += 1
        if index < self._prompt.frame:
            return [TrackedFrame(index, [])]
        step = index - self._prompt.frame  # the session counts from the prompt's frame
        with torch.inference_mode():
            pixels = self._pixels(frame)
            with self._weights.lock:
                self._cache_features(state, pixels, step)
                if step == 0:
                    self._add_prompt(state)
                output = self._tracker(inference_session=state, frame=pixels, frame_idx=step)
            memory.prune_tracker(state, step, self._tracker_config)
            return [TrackedFrame(index, self._objects(output))]

    def finish(self) -> list[TrackedFrame]:
        """Nothing is held back: every result came with its frame."""
        return []

    def _cache_features(
        self, state: Sam3TrackerVideoInferenceSession, pixels: torch.Tensor, step: int
    ) -> None:
        """The tracker's features of this frame, from the detector's ViT and the tracker neck."""
        weights = self._weights
        video = weights.video
        batch = pixels[None].to(weights.device, weights.dtype)
        hidden = video.detector_model.vision_encoder.backbone(batch).last_hidden_state
        # The library annotates this argument as a tensor but reads its `last_hidden_state`.
        features, positions = video.get_vision_features_for_tracker(
            Sam3VisionEncoderOutput(last_hidden_state=hidden)  # type: ignore[arg-type]
        )
        state.cache.cache_vision_features(
            step, {"vision_feats": features, "vision_pos_embeds": positions}
        )

    def _add_prompt(self, state: Sam3TrackerVideoInferenceSession) -> None:
        prompt = self._prompt
        points, labels = click_inputs(prompt.points)
        boxes = [[prompt.box.as_list()]] if prompt.box is not None else None
        self._weights.tracker_video_processor.add_inputs_to_inference_session(
            state,
            frame_idx=0,
            obj_ids=_OBJECT_ID,
            input_points=points,
            input_labels=labels,
            input_boxes=boxes,
            original_size=self._size,
        )

    def _objects(self, output: Sam3TrackerVideoSegmentationOutput) -> list[TrackedObject]:
        if output.pred_masks is None or output.object_score_logits is None:
            return []
        masks = self._weights.tracker_video_processor.post_process_masks(
            [output.pred_masks], [list(self._size)], mask_threshold=self._mask_logit
        )[0]
        scores = output.object_score_logits.float().sigmoid().reshape(-1).tolist()
        objects = []
        for obj_id, mask, score in zip(output.object_ids or [], masks, scores, strict=True):
            tracked = self._tracked(obj_id, score, mask[0].cpu().numpy())
            if tracked is not None:
                objects.append(tracked)
        return objects
