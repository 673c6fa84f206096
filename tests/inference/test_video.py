"""Video sessions on the tiny random SAM 3: streaming, de-duplication, pruning, release."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

from sam3_service.errors import InvalidInput
from sam3_service.inference import (
    Box,
    Point,
    Sam3Engine,
    Thresholds,
    TrackedFrame,
    VideoPrompt,
    VideoSession,
)
from sam3_service.inference import video as video_module
from sam3_service.inference.video import mask_nms
from tests.video_helpers import moving_shapes

WIDTH, HEIGHT = 80, 60
# The random model scores its detections around 0.25: a low threshold makes it find some.
LOW = Thresholds(score=0.2, mask=0.5)
TEXT = VideoPrompt(text="person")

Opener = Callable[..., VideoSession]


@pytest.fixture
def open_session(engine: Sam3Engine) -> Any:
    sessions: list[VideoSession] = []

    def open_(prompt: VideoPrompt, thresholds: Thresholds = LOW, max_objects: int = 4) -> Any:
        session = engine.open_video(
            prompt, width=WIDTH, height=HEIGHT, thresholds=thresholds, max_objects=max_objects
        )
        sessions.append(session)
        return session

    yield open_
    for session in sessions:
        session.close()


def track(session: VideoSession, count: int) -> tuple[list[TrackedFrame], list[int]]:
    """Push `count` frames; returns every result and how many came back after each push."""
    results, returned = [], []
    for frame in moving_shapes(count, WIDTH, HEIGHT):
        ready = session.push(frame)
        returned.append(len(ready))
        results += ready
    return results + session.finish(), returned


def check_frames(results: list[TrackedFrame], count: int) -> None:
    assert [frame.index for frame in results] == list(range(count))
    for frame in results:
        ids = [obj.id for obj in frame.objects]
        assert len(set(ids)) == len(ids)
        for obj in frame.objects:
            assert obj.mask.shape == (HEIGHT, WIDTH) and obj.mask.dtype == np.bool_
            assert obj.mask.any() and 0 <= obj.score <= 1
            x0, y0, x1, y1 = obj.box
            assert 0 <= x0 < x1 <= WIDTH and 0 <= y0 < y1 <= HEIGHT


def test_text_results_wait_for_the_hot_start_then_cover_every_frame(
    engine: Sam3Engine, open_session: Opener
) -> None:
    session = open_session(TEXT)

    results, returned = track(session, 18)

    assert session.delay == engine.video_model.hotstart_delay - 1 == 14
    assert returned == [0] * 14 + [1] * 4
    check_frames(results, 18)  # random weights: whether tracks survive the hot start is chance


def test_duplicates_born_on_one_frame_leave_the_session(
    engine: Sam3Engine, open_session: Opener
) -> None:
    session = open_session(TEXT, Thresholds(score=0.0, mask=0.5), max_objects=16)

    session.push(next(moving_shapes(1, WIDTH, HEIGHT)))

    # Every one of the 16 queries is a detection at threshold 0; many are copies of another.
    state = session._state  # type: ignore[attr-defined]
    held = session._held[0]  # type: ignore[attr-defined]
    live = state.obj_ids
    assert (
        1 <= len(live) < engine.video_model.config.detector_config.detr_decoder_config.num_queries
    )
    assert set(held.masks) == set(live)
    masks = torch.cat([held.masks[obj] for obj in live]) > 0
    flat = masks.flatten(1).float()
    overlap = flat @ flat.T
    area = flat.sum(1)
    iou = overlap / (area[:, None] + area[None, :] - overlap).clamp(min=1)
    assert float(iou.fill_diagonal_(0).max()) <= engine.video_model.det_nms_thresh
    assert state.hotstart_removed_obj_ids  # the copies never show in results


def test_mask_nms_keeps_the_best_of_overlapping_masks() -> None:
    masks = torch.zeros(3, 8, 8, dtype=torch.bool)
    masks[0, :4, :4] = masks[1, :4, :5] = masks[2, 5:, 5:] = True

    assert mask_nms(masks, torch.tensor([0.5, 0.9, 0.4]), iou_threshold=0.1) == [False, True, True]


def test_the_tasks_thresholds_are_set_for_its_frames_only(
    engine: Sam3Engine, open_session: Opener
) -> None:
    model = engine.video_model
    before = (model.score_threshold_detection, model.new_det_thresh, model.max_num_objects)

    track(open_session(TEXT, Thresholds(score=0.1, mask=0.5), max_objects=2), 2)

    assert (model.score_threshold_detection, model.new_det_thresh, model.max_num_objects) == before


@pytest.mark.parametrize(
    "prompt",
    [TEXT, VideoPrompt(points=(Point(20, 30), Point(5, 5, positive=False)), frame=2)],
    ids=["text", "clicks"],
)
def test_pruning_bounds_the_state_and_changes_no_mask(
    prompt: VideoPrompt,
    engine: Sam3Engine,
    open_session: Opener,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Random detections are never confirmed, so the hot start would remove every track within
    # 8 frames: without it, tracks live long enough to outgrow the windows.
    monkeypatch.setattr(engine.video_model, "hotstart_delay", 0)
    frames = 22  # more than the object-pointer window (16) and the memory window (7)
    pruned_session = open_session(prompt)
    pruned, _ = track(pruned_session, frames)
    state = pruned_session._state  # type: ignore[attr-defined]
    assert state.obj_ids and any(len(frame.objects) for frame in pruned[16:])
    for outputs in state.output_dict_per_obj.values():
        assert len(outputs["non_cond_frame_outputs"]) <= 15
        memory = [o for o in outputs["non_cond_frame_outputs"].values() if "maskmem_features" in o]
        assert len(memory) <= 6
        assert all("high_res_masks" not in o for o in outputs["non_cond_frame_outputs"].values())
    assert all(pixels.numel() == 0 for pixels in state.processed_frames.values())
    assert len(state.processed_frames) == frames - prompt.frame  # the library counts frames

    monkeypatch.setattr(video_module, "_prune_tracker", lambda *args: None)
    monkeypatch.setattr(video_module, "_prune_logs", lambda *args: None)
    unpruned, _ = track(open_session(prompt), frames)

    check_frames(pruned, frames)
    assert [[o.id for o in f.objects] for f in pruned] == [
        [o.id for o in f.objects] for f in unpruned
    ]
    for ours, theirs in zip(pruned, unpruned, strict=True):
        for a, b in zip(ours.objects, theirs.objects, strict=True):
            assert np.array_equal(a.mask, b.mask) and a.score == pytest.approx(b.score)


def test_clicks_mark_one_object_from_their_frame_on(open_session: Opener) -> None:
    session = open_session(VideoPrompt(points=(Point(20, 30),), frame=3))

    results, returned = track(session, 8)

    assert session.delay == 0 and returned == [1] * 8
    check_frames(results, 8)
    assert all(not frame.objects for frame in results[:3])
    assert {obj.id for frame in results for obj in frame.objects} <= {1}


def test_a_box_marks_one_object_on_the_first_frame(open_session: Opener) -> None:
    results, _ = track(open_session(VideoPrompt(box=Box(10, 10, 50, 45))), 4)

    check_frames(results, 4)
    assert results[0].objects and results[0].objects[0].id == 1


def test_a_closed_session_holds_nothing_and_takes_no_frame(open_session: Opener) -> None:
    session = open_session(TEXT)
    session.push(next(moving_shapes(1, WIDTH, HEIGHT)))

    session.close()
    session.close()

    assert session._state is None and not session._held  # type: ignore[attr-defined]
    with pytest.raises(RuntimeError):
        session.push(next(moving_shapes(1, WIDTH, HEIGHT)))


@pytest.mark.parametrize(
    ("prompt", "words"),
    [
        (VideoPrompt(text="cat", points=(Point(1, 1),)), "either text"),
        (VideoPrompt(), "either text"),
        (VideoPrompt(text="  "), "blank"),
        (VideoPrompt(points=(Point(81, 10),)), "outside"),
        (VideoPrompt(box=Box(30, 10, 20, 40)), "x0 < x1"),
        (VideoPrompt(points=(Point(1, 1),), frame=-1), "frame"),
    ],
)
def test_bad_prompts_are_refused(engine: Sam3Engine, prompt: VideoPrompt, words: str) -> None:
    with pytest.raises(InvalidInput, match=words):
        engine.open_video(prompt, width=WIDTH, height=HEIGHT, thresholds=LOW, max_objects=4)


def test_a_frame_of_the_wrong_size_is_refused(open_session: Opener) -> None:
    with pytest.raises(InvalidInput, match="60x80x3"):
        open_session(TEXT).push(np.zeros((WIDTH, HEIGHT, 3), np.uint8))
