"""Prompt validation: English text, box and point shapes, limits against the image."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from sam3_service.domain.params import SegmentParams, build_prompt, normalise_text
from sam3_service.errors import InvalidInput
from sam3_service.inference.base import PromptMode, Thresholds


@pytest.mark.parametrize("text", ["cat", "red car", "jack-o'-lantern", "crème brûlée", "3 dogs"])
def test_english_prompts_pass(text: str) -> None:
    assert SegmentParams(prompt=text).prompt == text


@pytest.mark.parametrize("text", ["猫", "собака", "犬 dog", "😀"])
def test_other_scripts_are_refused(text: str) -> None:
    with pytest.raises(ValidationError, match="English"):
        SegmentParams(prompt=text)


def test_white_space_is_collapsed_and_cache_identity_normalised() -> None:
    params = SegmentParams(prompt="  Red   Car ")
    assert params.prompt == "Red Car"
    assert params.cache_identity(Thresholds())["prompt"] == normalise_text("red car")


def test_build_prompt_marks_negative_boxes_and_points() -> None:
    params = SegmentParams(boxes=[[1, 1, 5, 5], [2, 2, 6, 6, 0]], points=[[3, 3], [4, 4, 0]])
    prompt = build_prompt(params, width=10, height=10, max_boxes=4, max_points=4)
    assert [b.positive for b in prompt.boxes] == [True, False]
    assert [p.positive for p in prompt.points] == [True, False]
    assert prompt.resolved_mode() is PromptMode.INTERACTIVE


def test_auto_mode() -> None:
    def mode(**kwargs: object) -> PromptMode:
        params = SegmentParams(**kwargs)  # type: ignore[arg-type]
        return build_prompt(params, width=10, height=10, max_boxes=4, max_points=4).resolved_mode()

    assert mode(prompt="cat") is PromptMode.CONCEPT
    assert mode(boxes=[[1, 1, 5, 5]]) is PromptMode.INTERACTIVE
    assert mode(boxes=[[1, 1, 5, 5], [2, 2, 6, 6]]) is PromptMode.CONCEPT
    assert mode(prompt="cat", boxes=[[1, 1, 5, 5]]) is PromptMode.CONCEPT
    assert mode(points=[[1, 1]]) is PromptMode.INTERACTIVE


def test_limits_and_bounds() -> None:
    with pytest.raises(InvalidInput, match="too many boxes"):
        build_prompt(
            SegmentParams(boxes=[[0, 0, 1, 1]] * 3), width=9, height=9, max_boxes=2, max_points=2
        )
    with pytest.raises(InvalidInput, match="outside the image"):
        build_prompt(SegmentParams(points=[[10, 1]]), width=9, height=9, max_boxes=2, max_points=2)
    with pytest.raises(InvalidInput, match="empty prompt"):
        build_prompt(SegmentParams(), width=9, height=9, max_boxes=2, max_points=2)


def test_thresholds_fall_back_to_defaults() -> None:
    assert SegmentParams(score_threshold=0.2).thresholds(Thresholds(0.5, 0.4)) == Thresholds(
        0.2, 0.4
    )
