"""Clicks or a box through a video: one object, tracked from the prompt's frame on."""

from __future__ import annotations

from sam3_service.inference import Box, Point, VideoPrompt

from .conftest import SessionOpener, check_frames, track


def test_clicks_mark_one_object_from_their_frame_on(open_session: SessionOpener) -> None:
    session = open_session(VideoPrompt(points=(Point(20, 30),), frame=3))

    results, returned = track(session, 8)

    assert session.delay == 0 and returned == [1] * 8
    check_frames(results, 8)
    assert all(not frame.objects for frame in results[:3])
    assert {obj.id for frame in results for obj in frame.objects} <= {1}


def test_a_box_marks_one_object_on_the_first_frame(open_session: SessionOpener) -> None:
    results, _ = track(open_session(VideoPrompt(box=Box(10, 10, 50, 45))), 4)

    check_frames(results, 4)
    assert results[0].objects and results[0].objects[0].id == 1
