"""How many threads torch may use in one model process, so that model processes sharing a
machine do not fight over its cores.

By default torch starts one thread per core it sees in every process; two workers on two cores
then run four busy threads and spend their time preempting each other. A container's CPU
quota (cgroup `cpu.max`) is not even seen: torch counts the host's cores.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

__all__ = ["apply_torch_threads", "torch_threads", "usable_cores"]

log = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")


def usable_cores(cgroup_root: Path = CGROUP_ROOT) -> int:
    """The cores this process may use: its CPU affinity, capped by a cgroup CPU quota (v2
    `cpu.max`, or v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`) rounded up; at least 1."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    quota = _cgroup_quota(cgroup_root)
    if quota is not None:
        cores = min(cores or 1, max(1, math.ceil(quota)))
    return max(1, cores or 1)


def torch_threads(processes: int, *, cores: int | None = None) -> int:
    """Threads for each of `processes` model processes sharing `cores` (default: usable_cores)."""
    if processes < 1:
        raise ValueError(f"processes must be at least 1, got {processes}")
    return max(1, (usable_cores() if cores is None else cores) // processes)


def apply_torch_threads(threads: int) -> None:
    """Set torch's intra-op and inter-op threads for this process, before any heavy work.

    Threads that already ran torch keep their own count, so call it before the model loads
    and before the inference thread starts. Inter-op threads can be set once per process only;
    a later call leaves them as they are.
    """
    import torch

    if threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:  # already set, or inter-op work already started in this process
        log.debug("torch inter-op threads stay at %d", torch.get_num_interop_threads())
    log.info("torch uses %d threads in this process", threads)


def _cgroup_quota(root: Path) -> float | None:
    """CPUs allowed by the cgroup quota, or None without one (or without cgroup files)."""
    v2 = _read(root / "cpu.max")
    if v2 is not None:
        quota, _, period = v2.partition(" ")
        return _ratio(quota, period or "100000")
    v1_quota = _read(root / "cpu" / "cpu.cfs_quota_us") or _read(root / "cpu.cfs_quota_us")
    v1_period = _read(root / "cpu" / "cpu.cfs_period_us") or _read(root / "cpu.cfs_period_us")
    if v1_quota is None or v1_period is None:
        return None
    return _ratio(v1_quota, v1_period)


def _ratio(quota: str, period: str) -> float | None:
    """`quota / period` in CPUs; None for `max`, -1 (v1's no limit) or anything unreadable."""
    try:
        quota_us, period_us = float(quota), float(period)
    except ValueError:
        return None  # "max": no quota
    if quota_us <= 0 or period_us <= 0:
        return None
    return quota_us / period_us


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None
