"""Text prompts through a video: the hot start, de-duplication, per-task thresholds."""

from __future__ import annotations

import torch

from sam3_service.inference import Sam3Engine, Thresholds
from sam3_service.inference.video_concept import mask_nms
from tests.video_helpers import moving_shapes

from .conftest import HEIGHT, VIDEO_TEXT, WIDTH, SessionOpener, check_frames, track


def test_text_results_wait_for_the_hot_start_then_cover_every_frame(
    engine: Sam3Engine, open_session: SessionOpener
) -> None:
    session = open_session(VIDEO_TEXT)

    results, returned = track(session, 18)

    assert session.delay == engine.weights.video.hotstart_delay - 1 == 14
    assert returned == [0] * 14 + [1] * 4
    check_frames(results, 18)  # random weights: whether tracks survive the hot start is chance


def test_duplicates_born_on_one_frame_leave_the_session(
    engine: Sam3Engine, open_session: SessionOpener
) -> None:
    session = open_session(VIDEO_TEXT, Thresholds(score=0.0, mask=0.5), max_objects=16)

    session.push(next(moving_shapes(1, WIDTH, HEIGHT)))

    # Every one of the 16 queries is a detection at threshold 0; many are copies of another.
    state = session._state
    held = session._held[0]
    live = state.obj_ids
    video = engine.weights.video
    assert 1 <= len(live) < video.config.detector_config.detr_decoder_config.num_queries
    assert set(held.masks) == set(live)
    masks = torch.cat([held.masks[obj] for obj in live]) > 0
    flat = masks.flatten(1).float()
    overlap = flat @ flat.T
    area = flat.sum(1)
    iou = overlap / (area[:, None] + area[None, :] - overlap).clamp(min=1)
    assert float(iou.fill_diagonal_(0).max()) <= video.det_nms_thresh
    assert state.hotstart_removed_obj_ids  # the copies never show in results


def test_mask_nms_keeps_the_best_of_overlapping_masks() -> None:
    masks = torch.zeros(3, 8, 8, dtype=torch.bool)
    masks[0, :4, :4] = masks[1, :4, :5] = masks[2, 5:, 5:] = True

    assert mask_nms(masks, torch.tensor([0.5, 0.9, 0.4]), iou_threshold=0.1) == [False, True, True]


def test_the_tasks_thresholds_are_set_for_its_frames_only(
    engine: Sam3Engine, open_session: SessionOpener
) -> None:
    model = engine.weights.video
    before = (model.score_threshold_detection, model.new_det_thresh, model.max_num_objects)

    track(open_session(VIDEO_TEXT, Thresholds(score=0.1, mask=0.5), max_objects=2), 2)

    assert (model.score_threshold_detection, model.new_det_thresh, model.max_num_objects) == before
