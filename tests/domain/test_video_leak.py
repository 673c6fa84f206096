"""No memory left behind by video tasks: RSS after 20 tasks in one worker, against after one."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from sam3_service.domain import jobs
from sam3_service.domain.models import ModelHost
from sam3_service.domain.params import SegmentParams
from sam3_service.runtime import open_services
from sam3_service.tasks.base import TaskStatus
from tests.helpers import make_settings
from tests.video_helpers import make_mp4


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


@pytest.mark.slow
async def test_twenty_video_tasks_leave_rss_within_ten_percent(
    tiny_model_dir: Path, tmp_path: Path, shared_host: ModelHost
) -> None:
    clip = make_mp4(10, 96, 72)
    params = SegmentParams(prompt="person", score_threshold=0.2)
    after: list[float] = []
    async with open_services(make_settings(tiny_model_dir, tmp_path), models=shared_host) as svc:
        for _ in range(20):
            record = await jobs.submit(svc, params=params, data=clip, enqueue=False)
            await jobs.run(svc, record.id)
            assert (await svc.store.get(record.id)).status is TaskStatus.SUCCEEDED
            gc.collect()
            after.append(rss_mib())

    assert max(after) <= after[0] * 1.10, [round(value) for value in after]
