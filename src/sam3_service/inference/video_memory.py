"""Pruning a video session's state: the one module that knows `transformers`' session internals.

A library session keeps every frame's pixels and per-frame state. After each frame, what the
model will not read again is dropped: the frame's pixels, outputs outside the memory
(`num_maskmem`) and object-pointer (`max_object_pointers_in_encoder`) windows, conditioning
frames beyond the `max_cond_frame_num` most recent (the ones the tracker selects, as SAM 2
does), full-size masks kept only for a memory encoder that already ran, and per-frame logs.
The field names below are those of `Sam3TrackerVideoInferenceSession` and
`Sam3VideoInferenceSession` (transformers 5.x): a test checks that pruning changes no mask.
"""

from __future__ import annotations

from typing import Any

from transformers import Sam3TrackerVideoConfig, Sam3VideoModel
from transformers.models.sam3_video.modeling_sam3_video import Sam3VideoInferenceSession

from .video_session import TrackerState

__all__ = ["prune_logs", "prune_tracker", "tracker_config"]

_BULKY_OUTPUTS = ("high_res_masks", "pred_masks")  # read only on the frame that made them
_MEMORY_OUTPUTS = ("maskmem_features", "maskmem_pos_enc")


def tracker_config(video: Sam3VideoModel) -> Sam3TrackerVideoConfig:
    """The windows `prune_tracker` keeps: those of the video model's tracker."""
    config: Sam3TrackerVideoConfig = video.tracker_model.config
    return config


def prune_tracker(state: TrackerState, index: int, config: Sam3TrackerVideoConfig) -> None:
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


def prune_logs(state: Sam3VideoInferenceSession, index: int, model: Sam3VideoModel) -> None:
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
