"""The automatic rollback judge: does a trial version do worse than the stable one?

Each version keeps a sliding window of its last outcomes (ok or error, and the latency). Once
the trial version has `min_requests` in its window, it is rolled back if its error rate
exceeds the stable version's by more than `max_error_rate_increase`, or if its p95 latency
(of successful requests) exceeds the stable version's by more than `max_p95_ratio` times.
While the stable version has fewer than `min_requests` of its own, the trial's errors are
compared with none and its latency is not judged. Not thread-safe: feed it from one thread.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Action", "RollbackJudge", "RollbackRules", "Verdict", "WindowFigures"]


@dataclass(frozen=True)
class RollbackRules:
    """When a trial version is taken out of traffic."""

    min_requests: int = 50
    max_error_rate_increase: float = 0.05  # absolute: 0.05 is five points more errors
    max_p95_ratio: float = 1.5
    window: int = 500  # outcomes kept per version

    def __post_init__(self) -> None:
        if self.min_requests < 1 or self.window < self.min_requests:
            raise ValueError("rollback rules need 1 <= min_requests <= window")
        if not 0 <= self.max_error_rate_increase <= 1 or not self.max_p95_ratio >= 1:
            raise ValueError("the error-rate increase is within 0..1, the p95 ratio at least 1")


@dataclass(frozen=True)
class WindowFigures:
    """One version's window: how many outcomes, the share of errors, the p95 of successes."""

    requests: int
    error_rate: float
    p95_ms: float | None  # None without a successful request


class Action(StrEnum):
    KEEP = "keep"
    ROLL_BACK = "roll_back"


@dataclass(frozen=True)
class Verdict:
    """What to do with the trial version, why (in words for the event log), and the figures."""

    action: Action
    reason: str
    trial: WindowFigures
    stable: WindowFigures


class _Window:
    def __init__(self, size: int) -> None:
        self._outcomes: deque[tuple[bool, float]] = deque(maxlen=size)

    def add(self, ok: bool, latency_ms: float) -> None:
        self._outcomes.append((ok, latency_ms))

    def figures(self) -> WindowFigures:
        count = len(self._outcomes)
        errors = sum(not ok for ok, _ in self._outcomes)
        latencies = sorted(ms for ok, ms in self._outcomes if ok)
        return WindowFigures(count, errors / count if count else 0.0, _p95(latencies))


class RollbackJudge:
    """Sliding windows of outcomes per version, and the verdict on a trial version."""

    def __init__(self, rules: RollbackRules) -> None:
        self._rules = rules
        self._windows: dict[str, _Window] = {}

    def record(self, version: str, *, ok: bool, latency_ms: float) -> None:
        """Count one request that `version` answered (ok False: it failed)."""
        if version not in self._windows:
            self._windows[version] = _Window(self._rules.window)
        self._windows[version].add(ok, latency_ms)

    def figures(self, version: str) -> WindowFigures:
        """`version`'s window as it stands (empty for a version never recorded)."""
        window = self._windows.get(version)
        return window.figures() if window else WindowFigures(0, 0.0, None)

    def forget(self, version: str) -> None:
        """Drop `version`'s window (once it is rolled back or promoted)."""
        self._windows.pop(version, None)

    def verdict(self, trial: str, stable: str) -> Verdict:
        """Keep `trial` or roll it back, judged against `stable`, with the reason in words."""
        mine, theirs = self.figures(trial), self.figures(stable)
        rules = self._rules
        if mine.requests < rules.min_requests:
            waiting = f"{trial} has {mine.requests} of the {rules.min_requests} requests needed"
            return Verdict(Action.KEEP, waiting, mine, theirs)
        known = theirs.requests >= rules.min_requests
        baseline = theirs.error_rate if known else 0.0
        if mine.error_rate - baseline > rules.max_error_rate_increase:
            failing = _errors_reason(trial, stable, mine, theirs, known)
            return Verdict(Action.ROLL_BACK, failing, mine, theirs)
        slow = _latency_reason(trial, stable, mine, theirs, rules.max_p95_ratio)
        if known and slow:
            return Verdict(Action.ROLL_BACK, slow, mine, theirs)
        fine = f"{trial} is within the limits over {mine.requests} requests"
        return Verdict(Action.KEEP, fine, mine, theirs)


def _p95(sorted_ms: list[float]) -> float | None:
    """The nearest-rank 95th percentile."""
    if not sorted_ms:
        return None
    return sorted_ms[max(math.ceil(0.95 * len(sorted_ms)) - 1, 0)]


def _errors_reason(
    trial: str, stable: str, mine: WindowFigures, theirs: WindowFigures, known: bool
) -> str:
    against = f"{stable}'s {theirs.error_rate:.1%}" if known else "none counted for the stable"
    return (
        f"{trial} failed {mine.error_rate:.1%} of its last {mine.requests} requests, "
        f"against {against}"
    )


def _latency_reason(
    trial: str, stable: str, mine: WindowFigures, theirs: WindowFigures, ratio: float
) -> str | None:
    if mine.p95_ms is None or theirs.p95_ms is None or theirs.p95_ms <= 0:
        return None
    if mine.p95_ms <= ratio * theirs.p95_ms:
        return None
    return (
        f"{trial}'s p95 latency is {mine.p95_ms:.0f} ms, over {ratio:g} times "
        f"{stable}'s {theirs.p95_ms:.0f} ms"
    )
