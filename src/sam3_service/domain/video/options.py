"""What a video request asks: how much of the video to process, and the tracking prompt."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from ...errors import InvalidInput
from ...inference.base import PromptMode, VideoPrompt
from ...media import VideoInfo, planned_frames
from ..params import MaskFormat, SegmentParams
from ..services import Limits


class VideoOptions(BaseModel):
    """How much of a video to process, and where clicks were made."""

    model_config = ConfigDict(extra="forbid")

    frame_stride: int = Field(
        default=1, ge=1, le=1000, description="Process every n-th frame (1: all)."
    )
    max_frames: int | None = Field(
        default=None, ge=1, description="Process at most this many frames."
    )
    prompt_frame: int = Field(
        default=0,
        ge=0,
        description="The video frame (from 0) that `points` or a box were drawn on.",
    )


class VideoTaskParams(BaseModel):
    """What a video task stores: the request, and what the upload was found to be."""

    model_config = ConfigDict(extra="forbid")

    prompt: SegmentParams
    options: VideoOptions
    video: VideoInfo
    sha256: str
    frames_total: int  # frames the task will process


def video_prompt(
    params: SegmentParams, options: VideoOptions, info: VideoInfo, limits: Limits
) -> VideoPrompt:
    """The tracking prompt of a request, checked against the video. Raises InvalidInput."""
    if MaskFormat.RLE not in params.mask_format or len(set(params.mask_format)) > 1:
        raise InvalidInput("video results carry COCO RLE masks only: leave mask_format as rle")
    prompt = limits.prompt(params, width=info.width, height=info.height)
    if prompt.resolved_mode() is PromptMode.CONCEPT:
        if prompt.text is None or prompt.boxes:
            raise InvalidInput(
                "in a video, a concept is named by text alone; to follow one object, mark it "
                "with points or one box (and prompt_frame)"
            )
        if options.prompt_frame:
            raise InvalidInput("prompt_frame is for points and boxes; text applies to all frames")
        return VideoPrompt(text=prompt.text)
    if (
        prompt.text is not None
        or len(prompt.boxes) > 1
        or not all(b.positive for b in prompt.boxes)
    ):
        raise InvalidInput("to follow one object, give points and/or one positive box, no text")
    return VideoPrompt(
        points=prompt.points,
        box=prompt.boxes[0] if prompt.boxes else None,
        frame=_processed_index(options, frames_total(info, options)),
    )


def frames_total(info: VideoInfo, options: VideoOptions) -> int:
    """How many frames the options process."""
    return planned_frames(info, stride=options.frame_stride, max_frames=options.max_frames)


def _processed_index(options: VideoOptions, total: int) -> int:
    """Which processed frame `prompt_frame` is. Raises InvalidInput if it is skipped."""
    if options.prompt_frame % options.frame_stride:
        raise InvalidInput(
            f"prompt_frame {options.prompt_frame} is skipped by frame_stride "
            f"{options.frame_stride}: use a multiple of the stride"
        )
    index = options.prompt_frame // options.frame_stride
    if index >= total:
        raise InvalidInput(
            f"prompt_frame {options.prompt_frame} is past the {total} frames to process"
        )
    return index
