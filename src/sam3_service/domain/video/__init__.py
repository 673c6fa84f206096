"""Videos: the options of a request, and tracking a prompt through one (see `kinds.video` for
video tasks)."""

from .options import VideoOptions, VideoTaskParams, frames_total, video_prompt
from .tracking import ProgressHook, track_video

__all__ = [
    "ProgressHook",
    "VideoOptions",
    "VideoTaskParams",
    "frames_total",
    "track_video",
    "video_prompt",
]
