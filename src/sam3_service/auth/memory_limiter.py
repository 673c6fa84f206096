"""An in-process rate limiter: the embedded limiter, right for a single API process."""

from __future__ import annotations

import time
from collections.abc import Callable

from .base import RateVerdict

__all__ = ["MemoryRateLimiter"]

_PERIOD_S = 60.0


class MemoryRateLimiter:
    """The generic cell rate algorithm (a token bucket kept as one number per name).

    Each name stores the time its bucket will be full again (its "theoretical arrival time");
    a request moves it one interval (`60 / per_min` s) later, and is refused when that would
    put it more than a minute ahead. So a key gets `per_min` requests at once, then one per
    interval. No method awaits, so requests on one event loop never race.
    """

    def __init__(
        self, *, clock: Callable[[], float] = time.monotonic, max_names: int = 100_000
    ) -> None:
        self.failures = 0  # never fails; here to match RateLimiter
        self._clock = clock
        self._max_names = max_names
        self._full_at: dict[str, float] = {}

    async def acquire(self, name: str, *, per_min: int) -> RateVerdict:
        """Count one request for `name`; refuse it with the wait when over `per_min`."""
        if per_min < 1:
            raise ValueError(f"per_min must be at least 1, got {per_min}")
        interval = _PERIOD_S / per_min
        now = self._clock()
        full_at = max(self._full_at.get(name, now), now) + interval
        allowed_from = full_at - interval * per_min
        if now < allowed_from:
            return RateVerdict(allowed=False, retry_after_s=allowed_from - now)
        self._full_at[name] = full_at
        if len(self._full_at) > self._max_names:
            self._forget_idle(now)
        return RateVerdict(allowed=True)

    async def ping(self) -> None:
        """Always answers: the counts live in this process."""

    async def aclose(self) -> None:
        """Nothing to release."""

    def _forget_idle(self, now: float) -> None:
        """Drop the names whose bucket is full again: they behave exactly like new ones."""
        self._full_at = {name: at for name, at in self._full_at.items() if at > now}
