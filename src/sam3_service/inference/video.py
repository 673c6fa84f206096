"""Tracking through a video on the engine's one model, frame by frame as frames are decoded.

A text prompt runs `Sam3VideoModel`, which detects every instance on each frame and tracks
them; clicks or a box run its tracker (a `Sam3TrackerVideoModel`) on features of the shared
ViT. Each frame holds the engine's lock for itself only, so image requests are served between
the frames of a long video. What the service adds to the library's sessions:

- De-duplication. Without the `kernels` package the library skips its NMS of detections, so one
  object detected twice on a frame becomes two tracks. After each frame, the objects born on it
  are de-duplicated by mask IoU at the model's `det_nms_thresh`, as that NMS would have done,
  and the copies are removed from the session before any result shows them.
- Hot-start clean-up. Frames are added to the session one at a time as they are decoded, then
  run by index: the library's `frame=` shortcut also flags the run as streaming, which switches
  off the removal of new tracks that the next frames do not confirm. As the library's own
  iterator does, results are held back `hotstart_delay - 1` frames so removed tracks never show.
- Pruning. A session keeps every frame's pixels and per-frame state. After each frame, what the
  model will not read again is dropped: the frame's pixels, outputs outside the memory
  (`num_maskmem`) and object-pointer (`max_object_pointers_in_encoder`) windows, conditioning
  frames beyond the `max_cond_frame_num` most recent (the ones the tracker selects, as SAM 2
  does), full-size masks kept only for a memory encoder that already ran, and per-frame logs.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from transformers import Sam3TrackerVideoConfig, Sam3VideoModel
from transformers.models.sam3.modeling_sam3 import Sam3VisionEncoderOutput
from transformers.models.sam3_tracker_video.modeling_sam3_tracker_video import (
    Sam3TrackerVideoInferenceSession,
    Sam3TrackerVideoSegmentationOutput,
)
from transformers.models.sam3_video.modeling_sam3_video import (
    Sam3VideoInferenceSession,
    Sam3VideoSegmentationOutput,
)

from ..errors import InvalidInput
from ..media import mask_bbox
from .base import Thresholds, TrackedFrame, TrackedObject, VideoPrompt, VideoSession

if TYPE_CHECKING:
    from .sam3 import Sam3Engine

__all__ = ["ConceptSession", "ObjectSession", "open_video_session"]

_OBJECT_ID = 1  # the one object that clicks or a box mark
_BULKY_OUTPUTS = ("high_res_masks", "pred_masks")  # read only on the frame that made them
_MEMORY_OUTPUTS = ("maskmem_features", "maskmem_pos_enc")
_CLIP = 1e-6  # mask thresholds of 0 and 1 become logits of -13.8 and 13.8

TrackerState = Sam3VideoInferenceSession | Sam3TrackerVideoInferenceSession


def open_video_session(
    engine: Sam3Engine,
    prompt: VideoPrompt,
    *,
    width: int,
    height: int,
    thresholds: Thresholds,
    max_objects: int,
) -> VideoSession:
    """A session for `prompt` over frames of `width` x `height`. Raises InvalidInput."""
    _check_prompt(prompt, width, height)
    if max_objects < 1:
        raise InvalidInput(f"max_objects must be at least 1, got {max_objects}")
    if prompt.text is not None:
        return ConceptSession(
            engine,
            prompt.text,
            width=width,
            height=height,
            thresholds=thresholds,
            max_objects=max_objects,
        )
    return ObjectSession(engine, prompt, width=width, height=height, thresholds=thresholds)


class _Session:
    """What both kinds of session share: frame checks, preprocessing, counting, closing."""

    delay = 0

    def __init__(
        self, engine: Sam3Engine, state: TrackerState, *, width: int, height: int, mask: float
    ) -> None:
        self._engine = engine
        self._state: TrackerState | None = state
        self._size = (height, width)
        self._mask_logit = _logit(mask)
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
        pixels: torch.Tensor = self._engine.video_processor(
            images=frame, return_tensors="pt"
        ).pixel_values[0]
        return pixels

    def _tracked(self, obj_id: int, score: float, mask: np.ndarray) -> TrackedObject | None:
        box = mask_bbox(mask)
        if box is None:
            return None
        x0, y0, x1, y1 = box
        return TrackedObject(obj_id, round(float(score), 5), (x0, y0, x1, y1), mask)


class ConceptSession(_Session):
    """Every instance of a text prompt, detected and tracked by `Sam3VideoModel`."""

    def __init__(
        self,
        engine: Sam3Engine,
        text: str,
        *,
        width: int,
        height: int,
        thresholds: Thresholds,
        max_objects: int,
    ) -> None:
        processor = engine.video_processor
        state = processor.init_video_session(inference_device=engine.device, dtype=engine.dtype)
        processor.add_text_prompt(state, text)
        super().__init__(engine, state, width=width, height=height, mask=thresholds.mask)
        self._model = engine.video_model
        self._tracker_config = _tracker_config(self._model)
        self._settings = _detection_settings(self._model, thresholds.score, max_objects)
        self.delay = max(self._model.hotstart_delay - 1, 0)
        self._held: deque[_FrameOutput] = deque()

    def push(self, frame: np.ndarray) -> list[TrackedFrame]:
        """Detect and track on the next frame; returns the frames whose results are final."""
        state = self._open_state()
        index = self._pushed
        with torch.inference_mode():
            pixels = self._pixels(frame)
            with self._engine.lock, _attributes(self._model, self._settings):
                state.add_new_frame(pixels, index)
                output = _FrameOutput.of(self._model(inference_session=state, frame_idx=index))
            self._remove_duplicates(state, output)
            state.hotstart_removed_obj_ids.update(output.removed)
            _prune_tracker(state, index, self._tracker_config)
            _prune_logs(state, index, self._model)
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
        result = self._engine.video_processor.postprocess_outputs(
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


class ObjectSession(_Session):
    """The one object marked by clicks and/or a box on one frame, followed by the tracker."""

    def __init__(
        self,
        engine: Sam3Engine,
        prompt: VideoPrompt,
        *,
        width: int,
        height: int,
        thresholds: Thresholds,
    ) -> None:
        processor = engine.tracker_video_processor
        state = processor.init_video_session(inference_device=engine.device, dtype=engine.dtype)
        super().__init__(engine, state, width=width, height=height, mask=thresholds.mask)
        self._prompt = prompt
        self._tracker = engine.video_model.tracker_model
        self._tracker_config = _tracker_config(engine.video_model)

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
            with self._engine.lock:
                self._cache_features(state, pixels, step)
                if step == 0:
                    self._add_prompt(state)
                output = self._tracker(inference_session=state, frame=pixels, frame_idx=step)
            _prune_tracker(state, step, self._tracker_config)
            return [TrackedFrame(index, self._objects(output))]

    def finish(self) -> list[TrackedFrame]:
        """Nothing is held back: every result came with its frame."""
        return []

    def _cache_features(
        self, state: Sam3TrackerVideoInferenceSession, pixels: torch.Tensor, step: int
    ) -> None:
        """The tracker's features of this frame, from the detector's ViT and the tracker neck."""
        engine = self._engine
        video = engine.video_model
        batch = pixels[None].to(engine.device, engine.dtype)
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
        points = [[[[point.x, point.y] for point in prompt.points]]] if prompt.points else None
        labels = [[[int(point.positive) for point in prompt.points]]] if prompt.points else None
        boxes = [[prompt.box.as_list()]] if prompt.box is not None else None
        self._engine.tracker_video_processor.add_inputs_to_inference_session(
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
        masks = self._engine.tracker_video_processor.post_process_masks(
            [output.pred_masks], [list(self._size)], mask_threshold=self._mask_logit
        )[0]
        scores = output.object_score_logits.float().sigmoid().reshape(-1).tolist()
        objects = []
        for obj_id, mask, score in zip(output.object_ids or [], masks, scores, strict=True):
            tracked = self._tracked(obj_id, score, mask[0].cpu().numpy())
            if tracked is not None:
                objects.append(tracked)
        return objects


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


def _check_prompt(prompt: VideoPrompt, width: int, height: int) -> None:
    clicks = bool(prompt.points) or prompt.box is not None
    if (prompt.text is None) == (not clicks):
        raise InvalidInput("a video prompt is either text, or points and/or one box")
    if prompt.text is not None and not prompt.text.strip():
        raise InvalidInput("the text prompt is blank")
    if prompt.frame < 0:
        raise InvalidInput(f"the prompt's frame must be 0 or more, got {prompt.frame}")
    corners = [(point.x, point.y) for point in prompt.points]
    if prompt.box is not None:
        box = prompt.box
        if not (box.positive and box.x0 < box.x1 and box.y0 < box.y1):
            raise InvalidInput(f"the box {box.as_list()} must be positive with x0 < x1, y0 < y1")
        corners += [(box.x0, box.y0), (box.x1, box.y1)]
    for x, y in corners:
        if not (0 <= x <= width and 0 <= y <= height):
            raise InvalidInput(f"({x}, {y}) lies outside the {width}x{height} frame")


def _tracker_config(video: Sam3VideoModel) -> Sam3TrackerVideoConfig:
    config: Sam3TrackerVideoConfig = video.tracker_model.config
    return config


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

    Only under the engine's lock: the image heads never read these, other videos wait.
    """
    saved = {name: getattr(model, name) for name in values}
    for name, value in values.items():
        setattr(model, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(model, name, value)


def _prune_tracker(state: TrackerState, index: int, config: Sam3TrackerVideoConfig) -> None:
    """Drop what the tracker will not read again once frame `index` is done.

    The frame's pixels go, but not its key: the library counts frames with `len()`.
    """
    assert state.processed_frames is not None
    state.processed_frames[index] = state.processed_frames[index].new_empty(0)
    memory_from = index + 2 - config.num_maskmem
    pointers_from = index + 2 - config.max_object_pointers_in_encoder
    for outputs in state.output_dict_per_obj.values():
        _prune_outputs(outputs["non_cond_frame_outputs"], memory_from, pointers_from)
        _prune_conditioning(outputs["cond_frame_outputs"], config.max_cond_frame_num)
    for per_frame in (
        *state.frames_tracked_per_obj.values(),
        *state.point_inputs_per_obj.values(),
        *state.mask_inputs_per_obj.values(),
    ):
        for frame_index in [frame for frame in per_frame if frame <= index]:
            del per_frame[frame_index]


def _prune_outputs(outputs: dict[int, Any], memory_from: int, pointers_from: int) -> None:
    """Tracked frames: the next frame reads the memory of a few and the pointer of more."""
    for frame_index in list(outputs):
        if frame_index < pointers_from:
            del outputs[frame_index]
            continue
        drop = _BULKY_OUTPUTS + (_MEMORY_OUTPUTS if frame_index < memory_from else ())
        for name in drop:
            outputs[frame_index].pop(name, None)


def _prune_conditioning(outputs: dict[int, Any], keep: int) -> None:
    """Conditioning frames: the tracker selects the `keep` closest (-1: all of them)."""
    if keep >= 0:
        for frame_index in sorted(outputs)[: max(len(outputs) - keep, 0)]:
            del outputs[frame_index]
    for output in outputs.values():
        output.pop("high_res_masks", None)


def _prune_logs(state: Sam3VideoInferenceSession, index: int, model: Sam3VideoModel) -> None:
    """Per-frame logs the detector-tracker only reads for the current frame or a few back.

    The planner deep-copies them on every frame, so left alone they cost time as well.
    """
    for per_frame in (state.obj_id_to_tracker_score_frame_wise, state.suppressed_obj_ids):
        for frame_index in [frame for frame in per_frame if frame < index]:
            del per_frame[frame_index]
    # Only `len(...) >= threshold` is asked of these lists, so their tails are enough.
    keep = max(model.hotstart_unmatch_thresh, model.hotstart_dup_thresh, 1)
    logs = (*state.unmatched_frame_inds.values(), *state.overlap_pair_to_frame_inds.values())
    for frames in logs:
        del frames[:-keep]


def _logit(probability: float) -> float:
    """A probability threshold as a finite logit (masks are resized before the comparison)."""
    clipped = min(max(probability, _CLIP), 1 - _CLIP)
    return math.log(clipped / (1 - clipped))
