"""Opening video sessions on the tiny random SAM 3: prompt checks, frame checks, release."""

from __future__ import annotations

import numpy as np
import pytest

from sam3_service.errors import InvalidInput
from sam3_service.inference import Box, Point, Sam3Engine, TrackingSpec, VideoPrompt
from sam3_service.inference.video_concept import ConceptSession
from sam3_service.inference.video_object import ObjectSession
from tests.video_helpers import moving_shapes

from .conftest import HEIGHT, LOW, VIDEO_TEXT, WIDTH, SessionOpener


def test_text_opens_a_concept_session_and_clicks_an_object_session(
    open_session: SessionOpener,
) -> None:
    assert isinstance(open_session(VIDEO_TEXT), ConceptSession)
    assert isinstance(open_session(VideoPrompt(box=Box(10, 10, 50, 45))), ObjectSession)


def test_a_closed_session_holds_nothing_and_takes_no_frame(open_session: SessionOpener) -> None:
    session = open_session(VIDEO_TEXT)
    session.push(next(moving_shapes(1, WIDTH, HEIGHT)))

    session.close()
    session.close()

    assert session._state is None and not session._held
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
        engine.open_video(TrackingSpec(prompt, WIDTH, HEIGHT, LOW, max_objects=4))


def test_a_frame_of_the_wrong_size_is_refused(open_session: SessionOpener) -> None:
    with pytest.raises(InvalidInput, match="60x80x3"):
        open_session(VIDEO_TEXT).push(np.zeros((WIDTH, HEIGHT, 3), np.uint8))
