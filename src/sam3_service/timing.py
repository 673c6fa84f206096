"""A stage timer: milliseconds spent per named stage of one piece of work."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

__all__ = ["StageTimer"]


class StageTimer:
    """Adds the time spent inside `with timer(stage):` to `ms[stage]`.

    `sync` (e.g. `torch.cuda.synchronize`) runs before each stage ends, so that a stage that
    only queued work on a device is charged for that work, not the next stage.
    """

    def __init__(self, stages: Iterable[str], *, sync: Callable[[], None] | None = None) -> None:
        self.ms = dict.fromkeys(stages, 0.0)
        self._sync = sync

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            if self._sync is not None:
                self._sync()
            self.ms[stage] += (time.perf_counter() - started) * 1000
