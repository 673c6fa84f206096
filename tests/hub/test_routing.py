"""Routing: pins win, canaries and splits are sticky per owner and hold their shares."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter

import pytest

from sam3_service.errors import Conflict, InvalidInput, ModelNotReady
from sam3_service.hub import RoutingTable
from sam3_service.hub.routing import (
    Route,
    RouteReason,
    bucket,
    choose_shadow,
    choose_version,
    promote,
    withdraw,
)

OWNERS = [f"owner-{n}" for n in range(2000)]
CANARY = RoutingTable(stable="stable", canary="canary", canary_percent=10)


def shares(table: RoutingTable) -> Counter[str]:
    return Counter(choose_version(table, owner).version for owner in OWNERS)


def test_a_10_percent_canary_gets_8_to_12_percent_of_2000_owners() -> None:
    assert 160 <= shares(CANARY)["canary"] <= 240


def test_an_owner_always_gets_the_same_version() -> None:
    first = [choose_version(CANARY, owner) for owner in OWNERS]
    again = [choose_version(CANARY, owner) for owner in reversed(OWNERS)]
    assert first == list(reversed(again))


def test_every_process_puts_an_owner_in_the_same_bucket() -> None:
    code = (
        "from sam3_service.hub.routing import bucket; "
        "print([bucket(f'owner-{n}', 'canary') for n in range(20)])"
    )
    env = os.environ | {"PYTHONHASHSEED": "12345"}
    printed = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env
    ).stdout
    assert printed.strip() == str([bucket(f"owner-{n}", "canary") for n in range(20)])


def test_buckets_spread_over_0_to_100() -> None:
    points = [bucket(owner, "canary") for owner in OWNERS]
    assert all(0 <= point < 100 for point in points)
    assert sum(point < 50 for point in points) in range(900, 1100)


def test_raising_the_canary_keeps_its_owners() -> None:
    wider = RoutingTable(stable="stable", canary="canary", canary_percent=30)
    before = {o for o in OWNERS if choose_version(CANARY, o).version == "canary"}
    after = {o for o in OWNERS if choose_version(wider, o).version == "canary"}
    assert before < after


def test_a_pin_wins_over_the_canary_and_needs_no_table() -> None:
    assert choose_version(CANARY, "owner-1", pinned="old") == Route("old", RouteReason.PINNED)
    assert choose_version(RoutingTable(), "owner-1", pinned="old").version == "old"
    with pytest.raises(InvalidInput):
        choose_version(CANARY, "owner-1", pinned="no spaces")


def test_without_a_stable_version_nothing_is_served() -> None:
    with pytest.raises(ModelNotReady, match="promoted"):
        choose_version(RoutingTable(), "owner-1")


def test_the_stable_version_serves_everyone_without_a_canary() -> None:
    table = RoutingTable(stable="stable")
    assert shares(table) == Counter({"stable": len(OWNERS)})
    assert choose_version(table, "x").reason is RouteReason.STABLE


def test_an_a_b_split_shares_owners_by_weight() -> None:
    table = RoutingTable(stable="stable", split=(("a", 3.0), ("b", 1.0)))
    counted = shares(table)
    assert set(counted) == {"a", "b"}
    assert 1400 <= counted["a"] <= 1600  # 75%
    assert choose_version(table, "x").reason is RouteReason.SPLIT


def test_a_canary_takes_its_share_before_the_split() -> None:
    table = RoutingTable(
        stable="stable", canary="canary", canary_percent=10, split=(("a", 1.0), ("b", 1.0))
    )
    counted = shares(table)
    assert 160 <= counted["canary"] <= 240
    assert 800 <= counted["a"] <= 1000 and 800 <= counted["b"] <= 1000
    assert "stable" not in counted


def test_the_shadow_is_sticky_and_drawn_apart_from_the_canary() -> None:
    table = RoutingTable(
        stable="stable", canary="canary", canary_percent=10, shadow="shadow", shadow_percent=10
    )
    shadowed = {o for o in OWNERS if choose_shadow(table, o, "stable") == "shadow"}
    assert 160 <= len(shadowed) <= 240
    assert shadowed == {o for o in OWNERS if choose_shadow(table, o, "stable") == "shadow"}
    canaried = {o for o in OWNERS if choose_version(table, o).version == "canary"}
    assert len(shadowed & canaried) < 60  # independent: about 1% of the owners, not 10%


def test_no_shadow_for_the_shadow_itself_or_without_one() -> None:
    table = RoutingTable(stable="stable", shadow="shadow", shadow_percent=100)
    assert choose_shadow(table, "x", "stable") == "shadow"
    assert choose_shadow(table, "x", "shadow") is None
    assert choose_shadow(RoutingTable(stable="stable"), "x", "stable") is None


def test_withdrawing_the_canary_leaves_the_rest() -> None:
    table = RoutingTable(
        stable="s", canary="c", canary_percent=10, split=(("s", 1.0), ("c", 1.0)), shadow="d"
    )
    assert withdraw(table, "c") == RoutingTable(stable="s", shadow="d")
    assert withdraw(table, "d") == RoutingTable(
        stable="s", canary="c", canary_percent=10, split=(("s", 1.0), ("c", 1.0))
    )
    with pytest.raises(Conflict, match="stable"):
        withdraw(table, "s")


def test_promoting_the_canary_makes_it_stable_alone() -> None:
    table = RoutingTable(stable="s", canary="c", canary_percent=10, shadow="d", shadow_percent=5)
    assert promote(table, "c") == RoutingTable(stable="c", shadow="d", shadow_percent=5)
    assert promote(table, "s") == table
    assert promote(RoutingTable(), "new") == RoutingTable(stable="new")
