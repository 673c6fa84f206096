"""Task kinds: one handler each, registered here. A new kind is a new module and a line below."""

from __future__ import annotations

from ...media import is_video
from ...tasks.base import TaskKind
from .base import KindHandler, Outcome, TaskRequest
from .image import ImageKind
from .video import VideoKind

__all__ = ["KindHandler", "Outcome", "TaskRequest", "handler", "kind_of"]

_HANDLERS: dict[TaskKind, KindHandler] = {TaskKind.IMAGE: ImageKind(), TaskKind.VIDEO: VideoKind()}


def handler(kind: TaskKind) -> KindHandler:
    """The handler of tasks of `kind`."""
    return _HANDLERS[kind]


def kind_of(request: TaskRequest) -> TaskKind:
    """The kind of task a request makes: an uploaded video makes a video task."""
    if request.data is not None and is_video(request.data):
        return TaskKind.VIDEO
    return TaskKind.IMAGE
