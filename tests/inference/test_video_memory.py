"""Pruning a video session's state bounds it and changes no result."""

from __future__ import annotations

import numpy as np
import pytest

from sam3_service.inference import Point, Sam3Engine, VideoPrompt, video_memory

from .conftest import VIDEO_TEXT, SessionOpener, check_frames, track


@pytest.mark.parametrize(
    "prompt",
    [VIDEO_TEXT, VideoPrompt(points=(Point(20, 30), Point(5, 5, positive=False)), frame=2)],
    ids=["text", "clicks"],
)
def test_pruning_bounds_the_state_and_changes_no_mask(
    prompt: VideoPrompt,
    engine: Sam3Engine,
    open_session: SessionOpener,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Random detections are never confirmed, so the hot start would remove every track within
    # 8 frames: without it, tracks live long enough to outgrow the windows.
    monkeypatch.setattr(engine.weights.video, "hotstart_delay", 0)
    frames = 22  # more than the object-pointer window (16) and the memory window (7)
    pruned_session = open_session(prompt)
    pruned, _ = track(pruned_session, frames)
    state = pruned_session._state
    assert state.obj_ids and any(len(frame.objects) for frame in pruned[16:])
    for outputs in state.output_dict_per_obj.values():
        assert len(outputs["non_cond_frame_outputs"]) <= 15
        memory = [o for o in outputs["non_cond_frame_outputs"].values() if "maskmem_features" in o]
        assert len(memory) <= 6
        assert all("high_res_masks" not in o for o in outputs["non_cond_frame_outputs"].values())
    assert all(pixels.numel() == 0 for pixels in state.processed_frames.values())
    assert len(state.processed_frames) == frames - prompt.frame  # the library counts frames

    monkeypatch.setattr(video_memory, "prune_tracker", lambda *args: None)
    monkeypatch.setattr(video_memory, "prune_logs", lambda *args: None)
    unpruned, _ = track(open_session(prompt), frames)

    check_frames(pruned, frames)
    assert [[o.id for o in f.objects] for f in pruned] == [
        [o.id for o in f.objects] for f in unpruned
    ]
    for ours, theirs in zip(pruned, unpruned, strict=True):
        for a, b in zip(ours.objects, theirs.objects, strict=True):
            assert np.array_equal(a.mask, b.mask) and a.score == pytest.approx(b.score)
