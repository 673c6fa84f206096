"""Tracking through a video on one copy of the weights, frame by frame as frames are decoded.

A text prompt runs `Sam3VideoModel`, which detects every instance on each frame and tracks
them (`video_concept`); clicks or a box run its tracker (a `Sam3TrackerVideoModel`) on
features of the shared ViT (`video_object`). Each frame holds the weights' lock for itself
only, so image requests are served between the frames of a long video. What the service adds
to the library's sessions:

- De-duplication. Without the `kernels` package the library skips its NMS of detections, so one
  object detected twice on a frame becomes two tracks. After each frame, the objects born on it
  are de-duplicated by mask IoU at the model's `det_nms_thresh`, as that NMS would have done,
  and the copies are removed from the session before any result shows them.
- Hot-start clean-up. Frames are added to the session one at a time as they are decoded, then
  run by index: the library's `frame=` shortcut also flags the run as streaming, which switches
  off the removal of new tracks that the next frames do not confirm. As the library's own
  iterator does, results are held back `hotstart_delay - 1` frames so removed tracks never show.
- Pruning (`video_memory`). A session keeps every frame's pixels and per-frame state; after
  each frame, what the model will not read again is dropped.
"""

from __future__ import annotations

from .base import TrackingSpec, VideoSession
from .prompts import check_tracking
from .video_concept import ConceptSession
from .video_object import ObjectSession
from .weights import Sam3Weights

__all__ = ["open_video_session"]


def open_video_session(weights: Sam3Weights, spec: TrackingSpec) -> VideoSession:
    """A session for `spec`'s prompt over frames of its size. Raises InvalidInput."""
    check_tracking(spec)
    if spec.prompt.text is not None:
        return ConceptSession(weights, spec)
    return ObjectSession(weights, spec)
