"""The automatic rollback: each routed request's outcome goes to the rollback judge, and a
trial version (the canary, or a split's version other than the stable one) that does worse
than the stable version is taken out of traffic at once.

Every API replica judges what it saw. The watch never raises into the request path: a
registry that fails is logged, and the next verdict tries again.
"""

from __future__ import annotations

import logging
from typing import Any

from ..errors import Conflict
from ..hub import (
    Action,
    EventKind,
    ModelEvent,
    ModelRegistry,
    RollbackJudge,
    RollbackRules,
    RoutingTable,
    Verdict,
    withdraw,
)

log = logging.getLogger(__name__)


def is_trial(table: RoutingTable, version: str) -> bool:
    """Whether `version` is on trial in `table`: its canary, or in its split and not stable."""
    in_split = any(entry == version for entry, _ in table.split)
    return version != table.stable and (version == table.canary or in_split)


class CanaryWatch:
    """Feeds each routed request's outcome to a RollbackJudge, and withdraws a trial version
    from the routing table when the judge says roll_back."""

    def __init__(
        self, registry: ModelRegistry, rules: RollbackRules, *, actor: str = "auto-rollback"
    ) -> None:
        self._registry = registry
        self._judge = RollbackJudge(rules)
        self._actor = actor
        self._recorded: set[str] = set()  # the versions with a window in the judge
        self._withdrawing: set[str] = set()  # rollbacks under way (awaiting the registry)
        self._verdicts: dict[str, str] = {}  # each trial's latest verdict, in words
        self._reasons: dict[str, str] = {}  # each version's latest rollback reason
        self.rollbacks: dict[str, int] = {}  # rollbacks this watch made, per version

    async def observe(
        self, table: RoutingTable, version: str, *, ok: bool, latency_ms: float
    ) -> bool:
        """Count one request that `version` answered under `table` (ok False: it failed), and
        roll `version` back if it is on trial and does worse than `table.stable`. Returns
        whether it changed the stored routing table. Never raises."""
        try:
            verdict = self._record(table, version, ok=ok, latency_ms=latency_ms)
            if verdict is not None and verdict.action is Action.ROLL_BACK:
                return await self._roll_back(table, version, verdict)
        except Exception:  # the request path must not fail for the watch's sake
            log.warning("The rollback watch failed on %s's outcome", version, exc_info=True)
        return False

    def figures(self) -> dict[str, dict[str, Any]]:
        """Per version (JSON-ready): its window's requests, error rate and p95 latency, the
        rollbacks made, the latest rollback's reason and the latest verdict on it as a trial."""
        versions = sorted(self._recorded | set(self.rollbacks))
        return {version: self._version_figures(version) for version in versions}

    def _version_figures(self, version: str) -> dict[str, Any]:
        window = self._judge.figures(version)
        return {
            "requests": window.requests,
            "error_rate": window.error_rate,
            "p95_ms": window.p95_ms,
            "rollbacks": self.rollbacks.get(version, 0),
            "last_reason": self._reasons.get(version),
            "verdict": self._verdicts.get(version),
        }

    def _record(
        self, table: RoutingTable, version: str, *, ok: bool, latency_ms: float
    ) -> Verdict | None:
        """Record the outcome of a version `table` names; judge it if it is on trial."""
        self._forget_all_but(table.versions)
        if version not in table.versions:
            return None  # a pin on a version out of the table: nothing to compare it with
        self._judge.record(version, ok=ok, latency_ms=latency_ms)
        self._recorded.add(version)
        if table.stable is None or not is_trial(table, version):
            self._verdicts.pop(version, None)  # promoted, say: no longer judged
            return None
        if version in self._withdrawing:
            return None
        verdict = self._judge.verdict(version, table.stable)
        self._verdicts[version] = verdict.reason
        return verdict

    def _forget_all_but(self, versions: set[str]) -> None:
        """Drop the windows of versions that left the routing table (promoted away, removed)."""
        for version in self._recorded - versions:
            self._judge.forget(version)
            self._verdicts.pop(version, None)
        self._recorded &= versions

    async def _roll_back(self, table: RoutingTable, version: str, verdict: Verdict) -> bool:
        """Withdraw `version`: from `table`, or, if someone changed it meanwhile, from the
        stored table once more if `version` is still on trial there. Returns whether it did."""
        self._withdrawing.add(version)
        try:
            event = ModelEvent(
                EventKind.ROLLED_BACK, version, reason=verdict.reason, actor=self._actor
            )
            withdrawn = await self._withdraw(table, version, event)
            if not withdrawn:  # the table changed meanwhile: the stored one, if still on trial
                withdrawn = await self._withdraw(await self._registry.routing(), version, event)
            if withdrawn:
                self.rollbacks[version] = self.rollbacks.get(version, 0) + 1
                self._reasons[version] = verdict.reason
                log.warning("Model version %s rolled back: %s", version, verdict.reason)
            self._judge.forget(version)
            self._verdicts.pop(version, None)
            return withdrawn
        finally:
            self._withdrawing.discard(version)

    async def _withdraw(self, table: RoutingTable, version: str, event: ModelEvent) -> bool:
        """Store `table` without `version`; False if it is not on trial there or if the
        stored table changed since (Conflict)."""
        if not is_trial(table, version):
            return False
        try:
            await self._registry.set_routing(
                withdraw(table, version), expect_revision=table.revision, event=event
            )
        except Conflict:
            return False
        return True
