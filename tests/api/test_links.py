"""Links: each kind's files, under a task or under a share token."""

from __future__ import annotations

from sam3_service.api.links import shared_links, task_links, with_links
from sam3_service.tasks.base import TaskKind, TaskRecord


def test_each_kind_links_its_own_files() -> None:
    image = task_links("t1", TaskKind.IMAGE).model_dump(exclude_none=True)
    assert image == {
        "task": "/v1/tasks/t1",
        "result_json": "/v1/tasks/t1/result.json",
        "masks_png": "/v1/tasks/t1/masks.png",
        "overlay_png": "/v1/tasks/t1/overlay.png",
    }
    video = shared_links("tok", TaskKind.VIDEO).model_dump(exclude_none=True)
    assert video == {
        "task": "/v1/shared/tok",
        "result_json": "/v1/shared/tok/result.json",
        "result_jsonl": "/v1/shared/tok/result.jsonl",
        "overlay_mp4": "/v1/shared/tok/overlay.mp4",
    }


def test_a_video_result_is_served_with_its_links() -> None:
    record = TaskRecord(id="t1", kind=TaskKind.VIDEO, input_key="videos/x", params={})
    served = with_links(record, {"frames_processed": 2})
    assert served["links"]["overlay_mp4"] == "/v1/tasks/t1/overlay.mp4"
    image = TaskRecord(id="t2", kind=TaskKind.IMAGE, input_key="images/x", params={})
    assert with_links(image, {"objects": []}) == {"objects": []}
