"""A worker process's metrics (stage times, outcomes, model load, feature cache, model state),
its heartbeat file and `sam3-service worker-alive`, the workers' liveness probe; and the GPU
series, absent without a GPU."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sam3_service.cli import app
from sam3_service.domain import jobs
from sam3_service.domain.params import SegmentParams
from sam3_service.errors import TimedOut
from sam3_service.inference.nvml import GpuCollector
from sam3_service.worker import ServiceProcess
from tests.helpers import make_settings, png_bytes


async def test_a_worker_process_counts_its_jobs_and_beats(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    settings = make_settings(tiny_model_dir, tmp_path, worker_heartbeat_s=60)
    process = ServiceProcess(settings, str(tiny_model_dir))
    await process.open()
    try:
        services, metrics = process.services, process.metrics
        assert metrics is not None and settings.worker_heartbeat_file.exists()
        picture = png_bytes()
        queued = [
            await jobs.submit(services, params=SegmentParams(prompt=p), data=picture, enqueue=False)
            for p in ("cat", "dog", "bird")
        ]
        for record in queued[:2]:  # the same picture twice: its features come from the cache
            await process.run(record.id)
        await process.give_up(queued[2].id, TimedOut("over 1 s", task_id=queued[2].id))
    finally:
        await process.aclose()

    def value(name: str, **labels: str) -> float | None:
        return metrics.registry.get_sample_value(name, labels)

    assert value("sam3_worker_tasks_total", outcome="succeeded") == 2
    assert value("sam3_worker_tasks_total", outcome="failed") == 1
    assert value("sam3_worker_feature_cache_misses_total") == 1
    assert value("sam3_worker_feature_cache_hits_total") == 1
    assert value("sam3_worker_inference_seconds_count", stage="decode") == 2
    assert (value("sam3_worker_model_load_seconds") or 0) > 0
    assert value("sam3_model_state", state="ready") == 1
    assert value("sam3_model_state", state="failed") == 0
    assert value("sam3_inference_seconds_count") == 2


def test_worker_alive_reads_the_heartbeat_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAM3_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SAM3_WORKER_HEARTBEAT_S", "5")
    runner = CliRunner()
    missing = runner.invoke(app, ["worker-alive"])
    assert missing.exit_code == 1 and "No heartbeat yet" in missing.output
    beat = tmp_path / "worker-heartbeat"
    beat.touch()
    assert runner.invoke(app, ["worker-alive"]).exit_code == 0
    stale = time.time() - 31  # six heartbeats of 5 s, at least 30 s
    os.utime(beat, (stale, stale))
    late = runner.invoke(app, ["worker-alive"])
    assert late.exit_code == 1 and "limit 30 s" in " ".join(late.output.split())


def test_without_a_gpu_the_gpu_series_are_absent() -> None:
    samples = [s for family in GpuCollector().collect() for s in family.samples]
    if Path("/dev/nvidiactl").exists():  # a machine with an NVIDIA driver: every GPU's series
        assert {s.name for s in samples} == {
            "sam3_gpu_utilization_ratio",
            "sam3_gpu_memory_used_bytes",
            "sam3_gpu_memory_total_bytes",
        }
        assert all(0 <= s.value for s in samples)
    else:
        assert samples == []
