"""Shadow traffic: a shadow version runs a copy of a request once the served version has
answered, in the background, and the two results are compared object by object.

The caller never waits for the shadow and never sees its result. Shadow work is the first
dropped when the service is busy: past `max_in_flight` shadow runs at once, an offer is
refused (and counted).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ..hub import Agreement, compare_objects, result_objects

log = logging.getLogger(__name__)


@dataclass
class _Tally:
    """One shadow version's runs, and the sums their means come from."""

    served: str = ""  # the version it was last compared with
    compared: int = 0
    dropped: int = 0
    failed: int = 0
    matched: int = 0
    only_served: int = 0
    only_shadow: int = 0
    iou_sum: float = 0.0  # over matched pairs
    shift_sum: float = 0.0  # over matched pairs
    agreement_sum: float = 0.0  # over compared runs

    def add(self, agreement: Agreement) -> None:
        self.compared += 1
        self.matched += agreement.matched
        self.only_served += agreement.only_first
        self.only_shadow += agreement.only_second
        if agreement.matched:
            self.iou_sum += (agreement.mean_iou or 0.0) * agreement.matched
            self.shift_sum += (agreement.score_shift or 0.0) * agreement.matched
        self.agreement_sum += agreement.overall

    def figures(self) -> dict[str, Any]:
        pairs, runs = self.matched, self.compared
        return {
            "served": self.served,
            "runs": runs,
            "dropped": self.dropped,
            "failed": self.failed,
            "matched": pairs,
            "only_served": self.only_served,
            "only_shadow": self.only_shadow,
            "mean_iou": self.iou_sum / pairs if pairs else None,
            "agreement": self.agreement_sum / runs if runs else None,
            "agreement_sum": self.agreement_sum,
            "score_shift": self.shift_sum / pairs if pairs else None,
        }


class ShadowRunner:
    """Runs shadow versions on copies of requests in the background, and keeps how well each
    agrees with the versions that served them. Call `offer` from the event loop."""

    def __init__(self, *, max_in_flight: int = 2, min_iou: float = 0.5) -> None:
        if max_in_flight < 0:
            raise ValueError(f"max_in_flight must be 0 or more, got {max_in_flight}")
        self._max_in_flight = max_in_flight
        self._min_iou = min_iou
        self._running: set[asyncio.Task[None]] = set()
        self._tallies: dict[str, _Tally] = {}

    @property
    def in_flight(self) -> int:
        """Shadow runs under way."""
        return len(self._running)

    def offer(
        self,
        served_version: str,
        shadow_version: str,
        served_result: dict[str, Any],
        run_shadow: Callable[[], Awaitable[dict[str, Any]]],
    ) -> bool:
        """Run `run_shadow()` in the background and compare its result with `served_result`
        (which `served_version` made). Returns at once: False when the offer was dropped
        because `max_in_flight` shadow runs are under way."""
        tally = self._tallies.setdefault(shadow_version, _Tally())
        if len(self._running) >= self._max_in_flight:
            tally.dropped += 1
            return False
        task = asyncio.create_task(
            self._shadow(tally, served_version, served_result, run_shadow),
            name=f"sam3-shadow-{shadow_version}",
        )
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return True

    def agreement(self) -> dict[str, dict[str, Any]]:
        """Per shadow version (JSON-ready): runs compared, dropped and failed; objects matched
        and only in one result; mean IoU and score shift of the matched objects; the mean
        overall agreement of the runs (1.0: equal results)."""
        return {version: tally.figures() for version, tally in sorted(self._tallies.items())}

    async def wait_idle(self) -> None:
        """Wait until the shadow runs under way (and any they were joined by) have ended."""
        while self._running:
            await asyncio.wait(list(self._running))

    async def aclose(self) -> None:
        """Cancel the shadow runs under way and wait for them to end."""
        running = list(self._running)
        for task in running:
            task.cancel()
        for task in running:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _shadow(
        self,
        tally: _Tally,
        served_version: str,
        served_result: dict[str, Any],
        run_shadow: Callable[[], Awaitable[dict[str, Any]]],
    ) -> None:
        try:
            shadow_result = await run_shadow()
            agreement = await asyncio.to_thread(
                compare_objects,
                result_objects(served_result),
                result_objects(shadow_result),
                min_iou=self._min_iou,
            )
        except Exception:  # a shadow's failure is counted, never the caller's
            tally.failed += 1
            log.warning("A shadow run against %s failed", served_version, exc_info=True)
            return
        tally.served = served_version
        tally.add(agreement)
