"""ServiceProcess, one worker process's part: it opens the backends and the model, reports its
state, runs jobs and gives them up; and `run_worker` needs a broker."""

from __future__ import annotations

from pathlib import Path

import pytest

from sam3_service.cache import open_cache
from sam3_service.domain import jobs
from sam3_service.domain.fleet import live_reports, service_report
from sam3_service.domain.models import ModelState
from sam3_service.domain.params import SegmentParams
from sam3_service.errors import ConfigError, ModelNotReady, Sam3Error, TimedOut
from sam3_service.tasks import TaskStatus
from sam3_service.worker import ServiceProcess, run_worker
from tests.helpers import make_settings, png_bytes
from tests.servers import RedisServer


async def test_a_process_loads_the_model_reports_ready_and_runs_jobs(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    settings = make_settings(tiny_model_dir, tmp_path, worker_heartbeat_s=60)
    process = ServiceProcess(settings, str(tiny_model_dir), route="host-1")
    await process.open()
    try:
        services = process.services
        [report] = await live_reports(services.cache)
        assert report.worker_id == process.worker_id and report.state is ModelState.READY
        assert report.route == "host-1"
        assert report.model is not None and report.model["random"] is True

        params = SegmentParams(prompt="cat")
        queued = [
            await jobs.submit(services, params=params, data=png_bytes(64 + n), enqueue=False)
            for n in range(2)
        ]
        await process.run(queued[0].id)
        error = TimedOut("the job ran over 1 s", task_id=queued[1].id)
        await process.give_up(queued[1].id, error)

        ran, given_up = [await services.store.get(record.id) for record in queued]
        assert (ran.status, ran.attempts) == (TaskStatus.SUCCEEDED, 1)
        assert (given_up.status, given_up.error) == (
            TaskStatus.FAILED,
            {"code": "timed_out", "message": "the job ran over 1 s"},
        )
        [report] = await live_reports(services.cache)
        assert (report.jobs, report.inferences) == (1, 1)
        assert (report.feature_cache_hits, report.feature_cache_misses) == (0, 1)
    finally:
        await process.aclose()


@pytest.mark.redis
async def test_a_model_that_cannot_load_is_reported_failed(
    tmp_path: Path, private_redis: RedisServer
) -> None:
    settings = make_settings(tmp_path / "no-such-model", tmp_path, redis_url=private_redis.url)
    process = ServiceProcess(settings, str(tmp_path / "no-such-model"))
    with pytest.raises(ModelNotReady):
        await process.open()
    with pytest.raises(Sam3Error, match="not open"):
        process.services  # noqa: B018
    cache = open_cache(private_redis.url)
    report = await service_report(cache)
    await cache.aclose()
    assert report is not None and report.state is ModelState.FAILED
    assert "no-such-model" in report.reason


def test_a_worker_needs_a_broker(tiny_model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SAM3_BROKER_URL"):
        run_worker(make_settings(tiny_model_dir, tmp_path))
