"""Sizing torch's threads from the usable cores: CPU affinity, cgroup quotas, process count."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
import torch

from sam3_service.inference.threads import torch_threads, usable_cores
from sam3_service.runtime import model_host
from sam3_service.settings import Settings
from tests.helpers import make_settings

AFFINITY = len(os.sched_getaffinity(0))


def cgroup(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


@pytest.mark.parametrize(
    ("files", "quota"),
    [
        ({"cpu.max": "150000 100000\n"}, 2),  # 1.5 CPUs round up
        ({"cpu.max": "100000 100000\n"}, 1),
        ({"cpu.max": "50000 100000\n"}, 1),  # half a CPU still gets a thread
        ({"cpu.max": "400000\n"}, 4),  # the period defaults to 100 ms
        ({"cpu/cpu.cfs_quota_us": "200000", "cpu/cpu.cfs_period_us": "100000"}, 2),  # v1
        ({"cpu.cfs_quota_us": "300000", "cpu.cfs_period_us": "100000"}, 3),  # v1, flat
    ],
)
def test_a_cgroup_quota_caps_the_cores(tmp_path: Path, files: dict[str, str], quota: int) -> None:
    assert usable_cores(cgroup(tmp_path, files)) == min(AFFINITY, quota)


@pytest.mark.parametrize(
    "files",
    [
        {},  # no cgroup files at all
        {"cpu.max": "max 100000\n"},
        {"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"},
        {"cpu.max": "garbage\n"},
        {"cpu.max": "0 100000\n"},
    ],
)
def test_no_quota_leaves_the_affinity(tmp_path: Path, files: dict[str, str]) -> None:
    assert usable_cores(cgroup(tmp_path, files)) == AFFINITY


def test_a_quota_above_the_affinity_does_not_add_cores(tmp_path: Path) -> None:
    files = {"cpu.max": f"{(AFFINITY + 8) * 100000} 100000"}
    assert usable_cores(cgroup(tmp_path, files)) == AFFINITY


@pytest.mark.parametrize(
    ("cores", "processes", "threads"),
    [(16, 1, 16), (16, 2, 8), (16, 3, 5), (2, 2, 1), (2, 4, 1), (1, 1, 1)],
)
def test_each_process_gets_its_share_and_at_least_one(
    cores: int, processes: int, threads: int
) -> None:
    assert torch_threads(processes, cores=cores) == threads


def test_zero_processes_is_refused() -> None:
    with pytest.raises(ValueError, match="processes"):
        torch_threads(0, cores=4)


def test_the_setting_overrides_the_computed_count(tmp_path: Path) -> None:
    from sam3_service.runtime import torch_threads as resolved

    base = Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    assert resolved(base) == usable_cores()
    assert resolved(base.model_copy(update={"torch_threads": 3})) == 3
    halves = base.model_copy(update={"model_processes": 2 * usable_cores()})
    assert resolved(halves) == 1


def test_the_inference_thread_runs_with_the_computed_threads(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    """The host loads with SAM3_TORCH_THREADS=1 and its inference thread then uses one thread."""
    before = torch.get_num_threads()
    settings = make_settings(tiny_model_dir, tmp_path, torch_threads=1)
    host = model_host(settings, str(tiny_model_dir))
    try:
        host.load_blocking()
        assert asyncio.run(host.run(lambda engine: torch.get_num_threads())) == 1
    finally:
        host.close()
        torch.set_num_threads(before)
