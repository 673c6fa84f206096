"""CanaryWatch: a trial version that does worse than the stable one leaves the routing table
at once, with its `rolled_back` event; a healthy one stays; the watch never raises."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sam3_service.domain.canary import CanaryWatch, is_trial
from sam3_service.domain.models import ModelHost
from sam3_service.errors import BackendUnavailable
from sam3_service.hub import (
    EventKind,
    ModelRegistry,
    RollbackRules,
    RoutingTable,
    choose_version,
    open_model_registry,
)
from sam3_service.inference import build_tiny_model
from tests.hub_traffic import random_png, register, route, segment

RULES = RollbackRules(min_requests=10, window=50, max_error_rate_increase=0.05, max_p95_ratio=1.5)


class InjectedFault(RuntimeError):
    """The canary's failure, injected into its requests."""


@pytest.fixture
async def registry(tmp_path: Path) -> AsyncIterator[ModelRegistry]:
    opened = await open_model_registry(f"sqlite:///{tmp_path / 'hub.db'}")
    yield opened
    await opened.aclose()


@pytest.fixture
async def versions(registry: ModelRegistry, tiny_model_dir: Path, tmp_path: Path) -> list[str]:
    """The tiny model (stable) and one of another seed (the trial), registered."""
    other = build_tiny_model(tmp_path / "seed-1", seed=1)
    return [await register(registry, tiny_model_dir), await register(registry, other)]


async def test_a_failing_canary_is_withdrawn_within_its_window(
    registry: ModelRegistry, versions: list[str], shared_host: ModelHost
) -> None:
    """Requests routed by owner to the real stable model, or to a canary whose every request
    fails; the stable version answers throughout and the canary is out after its minimum."""
    stable, canary = versions
    await route(registry, stable=stable, canary=canary, canary_percent=50)
    watch = CanaryWatch(registry, RULES)
    served = {stable: 0, canary: 0}
    for request in range(40):
        table = await registry.routing()  # every request sees the stored table
        version = choose_version(table, f"owner-{request}").version
        started = time.perf_counter()
        try:
            if version == canary:
                raise InjectedFault("injected")
            await segment(shared_host, random_png(request))
            ok = True
        except InjectedFault:
            ok = False
        latency_ms = (time.perf_counter() - started) * 1000
        await watch.observe(table, version, ok=ok, latency_ms=latency_ms)
        served[version] += 1
    table = await registry.routing()
    assert (table.stable, table.canary, table.canary_percent) == (stable, None, 0.0)
    assert served[canary] == RULES.min_requests and served[stable] == 40 - served[canary]
    (event,) = [e for e in await registry.events(canary) if e.kind is EventKind.ROLLED_BACK]
    assert event.actor == "auto-rollback"
    assert event.reason.startswith(f"{canary} failed 100.0% of its last 10 requests, against ")
    figures = watch.figures()
    assert figures[canary] | {"verdict": None} == {
        "requests": 0,
        "error_rate": 0.0,
        "p95_ms": None,
        "rollbacks": 1,
        "last_reason": event.reason,
        "verdict": None,
    }
    assert figures[stable]["requests"] == served[stable] and figures[stable]["error_rate"] == 0


async def test_a_slow_canary_is_withdrawn(registry: ModelRegistry, versions: list[str]) -> None:
    stable, canary = versions
    table = await route(registry, stable=stable, canary=canary, canary_percent=10)
    watch = CanaryWatch(registry, RULES)
    for _ in range(RULES.min_requests):
        await watch.observe(table, stable, ok=True, latency_ms=100.0)
    for _ in range(RULES.min_requests):
        await watch.observe(table, canary, ok=True, latency_ms=400.0)
    assert (await registry.routing()).canary is None
    (event, *_) = await registry.events(canary)
    assert event.kind is EventKind.ROLLED_BACK
    assert event.reason == f"{canary}'s p95 latency is 400 ms, over 1.5 times {stable}'s 100 ms"
    assert watch.rollbacks == {canary: 1}


async def test_a_slow_split_version_is_withdrawn_and_the_split_dropped(
    registry: ModelRegistry, versions: list[str]
) -> None:
    stable, trial = versions
    table = await route(registry, stable=stable, split=((stable, 1.0), (trial, 1.0)))
    assert is_trial(table, trial) and not is_trial(table, stable)
    watch = CanaryWatch(registry, RULES)
    for _ in range(RULES.min_requests):
        await watch.observe(table, stable, ok=True, latency_ms=100.0)
        await watch.observe(table, trial, ok=True, latency_ms=200.0)
    stored = await registry.routing()
    assert (stored.stable, stored.split, stored.revision) == (stable, (), table.revision + 1)


async def test_a_healthy_canary_is_kept(registry: ModelRegistry, versions: list[str]) -> None:
    stable, canary = versions
    table = await route(registry, stable=stable, canary=canary, canary_percent=10)
    watch = CanaryWatch(registry, RULES)
    for request in range(3 * RULES.min_requests):
        await watch.observe(table, stable, ok=request % 25 != 0, latency_ms=100.0 + request)
        await watch.observe(table, canary, ok=True, latency_ms=110.0 + request)
    assert await registry.routing() == table
    figures = watch.figures()[canary]
    assert figures["rollbacks"] == 0 and figures["requests"] == 30
    assert figures["verdict"] == f"{canary} is within the limits over 30 requests"


async def test_a_stale_table_rolls_back_once(registry: ModelRegistry, versions: list[str]) -> None:
    """Requests still routed by the table of before the rollback neither fail nor roll back
    again; a table changed meanwhile by someone else is read again."""
    stable, canary = versions
    table = await route(registry, stable=stable, canary=canary, canary_percent=10)
    raised = await route(registry, stable=stable, canary=canary, canary_percent=20)
    watch = CanaryWatch(registry, RULES)
    for _ in range(3 * RULES.min_requests):
        await watch.observe(table, canary, ok=False, latency_ms=5.0)  # `table` is stale
    assert (await registry.routing()).revision == raised.revision + 1
    assert watch.rollbacks == {canary: 1}
    rolled_back = [e for e in await registry.events(canary) if e.kind is EventKind.ROLLED_BACK]
    assert len(rolled_back) == 1


class FailingRegistry:
    """A registry whose database is down."""

    async def routing(self) -> RoutingTable:
        raise BackendUnavailable("the database is down")

    async def set_routing(self, *args: object, **kwargs: object) -> RoutingTable:
        raise BackendUnavailable("the database is down")


async def test_observe_never_raises_when_the_registry_fails(
    caplog: pytest.LogCaptureFixture,
) -> None:
    table = RoutingTable(stable="v1", canary="v2", canary_percent=10)
    watch = CanaryWatch(FailingRegistry(), RULES)  # type: ignore[arg-type]
    for _ in range(2 * RULES.min_requests):
        await watch.observe(table, "v2", ok=False, latency_ms=1.0)
    assert watch.rollbacks == {}
    assert "The rollback watch failed on v2's outcome" in caplog.text
    assert watch.figures()["v2"]["requests"] == 2 * RULES.min_requests  # it tries on each


async def test_versions_out_of_the_table_are_not_kept(
    registry: ModelRegistry, versions: list[str]
) -> None:
    stable, canary = versions
    watch = CanaryWatch(registry, RULES)
    table = RoutingTable(stable=stable, canary=canary, canary_percent=10)
    await watch.observe(table, canary, ok=True, latency_ms=1.0)
    await watch.observe(table, "pinned-elsewhere", ok=True, latency_ms=1.0)
    assert set(watch.figures()) == {canary}
    await watch.observe(RoutingTable(stable=canary), canary, ok=True, latency_ms=1.0)
    assert set(watch.figures()) == {canary} and watch.figures()[canary]["verdict"] is None


async def test_concurrent_failures_roll_back_once(
    registry: ModelRegistry, versions: list[str]
) -> None:
    stable, canary = versions
    table = await route(registry, stable=stable, canary=canary, canary_percent=10)
    watch = CanaryWatch(registry, RULES)
    outcomes = [watch.observe(table, canary, ok=False, latency_ms=1.0) for _ in range(30)]
    await asyncio.gather(*outcomes)
    assert watch.rollbacks == {canary: 1} and (await registry.routing()).canary is None
    rolled_back = [e for e in await registry.events(canary) if e.kind is EventKind.ROLLED_BACK]
    assert len(rolled_back) == 1


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'fleet.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


async def test_two_replicas_roll_a_canary_back_once(
    database_url: str, tiny_model_dir: Path
) -> None:
    """Two API replicas, each with its own watch and connection, see the canary fail at once:
    one rollback is stored and logged, and the other replica finds the canary gone."""
    replicas = [await open_model_registry(database_url) for _ in range(2)]
    try:
        stable = await register(replicas[0], tiny_model_dir)
        canary = await register(replicas[0], tiny_model_dir, "canary-1")
        table = await route(replicas[0], stable=stable, canary=canary, canary_percent=10)
        watches = [CanaryWatch(registry, RULES) for registry in replicas]
        failures = [
            watch.observe(table, canary, ok=False, latency_ms=1.0)
            for _ in range(RULES.min_requests)
            for watch in watches
        ]
        await asyncio.gather(*failures)
        stored = await replicas[1].routing()
        events = await replicas[1].events(canary)
    finally:
        for registry in replicas:
            await registry.aclose()
    assert stored.canary is None and stored.revision == table.revision + 1
    assert [e.kind for e in events].count(EventKind.ROLLED_BACK) == 1
    assert sum(watch.rollbacks.get(canary, 0) for watch in watches) == 1
