"""The table of task kinds: every kind has its handler, and a request finds its kind."""

from __future__ import annotations

import pytest

from sam3_service.domain import kinds
from sam3_service.domain.params import SegmentParams
from sam3_service.tasks.base import TaskKind, TaskRecord
from tests.helpers import png_bytes
from tests.video_helpers import make_mp4


@pytest.mark.parametrize("kind", list(TaskKind))
def test_every_kind_has_its_handler(kind: TaskKind) -> None:
    assert kinds.handler(kind).kind is kind


def test_an_uploaded_video_makes_a_video_task_and_anything_else_an_image_task() -> None:
    params = SegmentParams(prompt="cat")
    assert kinds.kind_of(kinds.TaskRequest(params=params, data=make_mp4(2, 32, 32))) == "video"
    assert kinds.kind_of(kinds.TaskRequest(params=params, data=png_bytes())) is TaskKind.IMAGE
    assert kinds.kind_of(kinds.TaskRequest(params=params, image_id="0" * 64)) is TaskKind.IMAGE


def test_a_stored_kind_reads_back_as_its_enum() -> None:
    record = TaskRecord(id="t1", kind="video", input_key="videos/x", params={})  # type: ignore[arg-type]
    assert record.kind is TaskKind.VIDEO
