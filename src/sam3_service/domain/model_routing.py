"""The routing table in a running service: the registry, and a copy of its table refreshed by
polling its revision, so that a change made anywhere reaches every replica within seconds."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from ..errors import Sam3Error
from ..hub import ModelEvent, ModelRegistry, Route, RoutingTable, choose_version

log = logging.getLogger(__name__)


class Observer(Protocol):
    """Told each routed inline request's outcome (the automatic rollback's watcher)."""

    async def observe(
        self, table: RoutingTable, version: str, *, ok: bool, latency_ms: float
    ) -> bool:
        """Count the outcome; True when that changed the stored routing table (a rollback)."""
        ...

    def figures(self) -> dict[str, dict[str, Any]]:
        """JSON-ready figures per version it watched (for `models list`)."""
        ...


class Shadow(Protocol):
    """Offered a copy of a request for the shadow version, after the served one answered."""

    def offer(
        self,
        served_version: str,
        shadow_version: str,
        served_result: dict[str, Any],
        run_shadow: Callable[[], Awaitable[dict[str, Any]]],
    ) -> bool: ...

    def agreement(self) -> dict[str, dict[str, Any]]:
        """JSON-ready agreement figures per shadow version (for `models list`)."""
        ...


class ModelRouter:
    """The registry, and its routing table as this process last read it."""

    def __init__(self, registry: ModelRegistry, *, poll_s: float = 1.0) -> None:
        self.registry = registry
        self.table = RoutingTable()
        self.poll_s = poll_s
        self._noticed: set[str] = set()

    async def refresh(self) -> RoutingTable:
        """Read the table again."""
        self.table = await self.registry.routing()
        return self.table

    async def poll(self) -> None:
        """Refresh every `poll_s` until cancelled; a failed read keeps the last table."""
        while True:
            await asyncio.sleep(self.poll_s)
            try:
                await self.refresh()
            except Sam3Error as exc:
                log.warning("the routing table could not be read: %s", exc.message)

    def first_notice(self, what: str) -> bool:
        """True the first time `what` is noticed by this process (to log it once)."""
        if what in self._noticed:
            return False
        self._noticed.add(what)
        return True

    def route(self, owner: str, pinned: str | None = None) -> Route | None:
        """The version for `owner`'s request; None with no pin and no stable version yet
        (the process serves the model it started with)."""
        if pinned is None and self.table.stable is None:
            return None
        return choose_version(self.table, owner, pinned)

    async def change(
        self, edit: Callable[[RoutingTable], RoutingTable], event: ModelEvent
    ) -> RoutingTable:
        """Apply `edit` to the stored table and store it (compare and set), logging `event`.
        Raises Conflict if another writer changed it meanwhile, and what `edit` raises."""
        current = await self.refresh()
        self.table = await self.registry.set_routing(
            edit(current), expect_revision=current.revision, event=event
        )
        return self.table


def traffic_shares(table: RoutingTable) -> dict[str, float]:
    """Each version's percentage of the owners the table routes (pins aside)."""
    if table.stable is None:
        return {}
    shares: dict[str, float] = {}
    rest = 100.0
    if table.canary is not None:
        shares[table.canary] = table.canary_percent
        rest -= table.canary_percent
    if table.split:
        total = sum(weight for _, weight in table.split)
        for version, weight in table.split:
            shares[version] = shares.get(version, 0.0) + rest * weight / total
    else:
        shares[table.stable] = shares.get(table.stable, 0.0) + rest
    return {version: round(share, 4) for version, share in shares.items()}
