"""Prompt checks before any model work, and clicks in the processors' nesting."""

from __future__ import annotations

import pytest

from sam3_service.errors import InvalidInput
from sam3_service.inference import (
    Box,
    Point,
    Prompt,
    PromptMode,
    Thresholds,
    TrackingSpec,
    VideoPrompt,
)
from sam3_service.inference.prompts import check_prompt, check_tracking, click_inputs


def test_a_point_outside_the_image_names_it() -> None:
    with pytest.raises(InvalidInput, match=r"^point \(130, 10\) lies outside the 120x80 image$"):
        check_prompt(Prompt(points=(Point(130, 10),)), PromptMode.INTERACTIVE, 120, 80)


def test_a_box_corner_outside_the_image_names_it() -> None:
    prompt = Prompt(text="cat", boxes=(Box(10, 10, 20, 90),))
    with pytest.raises(InvalidInput, match=r"^box corner \(20, 90\) lies outside"):
        check_prompt(prompt, PromptMode.CONCEPT, 120, 80)


def test_the_text_prompt_is_checked_alike_for_images_and_videos() -> None:
    with pytest.raises(InvalidInput, match="blank"):
        check_prompt(Prompt(text=" "), PromptMode.CONCEPT, 120, 80)
    with pytest.raises(InvalidInput, match="blank"):
        check_tracking(TrackingSpec(VideoPrompt(text=" "), 120, 80, Thresholds(), 4))


def test_a_video_point_outside_the_frame_and_a_zero_cap_are_refused() -> None:
    with pytest.raises(InvalidInput, match=r"^\(5, 81\) lies outside the 120x80 frame$"):
        check_tracking(TrackingSpec(VideoPrompt(points=(Point(5, 81),)), 120, 80, Thresholds(), 4))
    with pytest.raises(InvalidInput, match="max_objects"):
        check_tracking(TrackingSpec(VideoPrompt(text="cat"), 120, 80, Thresholds(), 0))


def test_valid_prompts_pass() -> None:
    check_prompt(Prompt(points=(Point(0, 80),)), PromptMode.INTERACTIVE, 120, 80)
    check_tracking(TrackingSpec(VideoPrompt(box=Box(1, 1, 120, 80)), 120, 80, Thresholds(), 1))


def test_click_inputs_nest_one_object_in_one_image() -> None:
    points = (Point(1.5, 2), Point(3, 4, positive=False))
    assert click_inputs(points) == ([[[[1.5, 2], [3, 4]]]], [[[1, 0]]])
    assert click_inputs(()) == (None, None)
