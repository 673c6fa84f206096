"""Which version serves a request, and which shadows it: pure decisions on the routing table.

A pinned version wins. Otherwise the owner falls in a bucket of [0, 100), from SHA-256 of a
purpose and the owner (not `hash()`, which differs per process): below `canary_percent`, the
canary serves; else the A/B split shares the owners out by weight, in the split's order; else
the stable version serves. Each purpose hashes on its own, so the canary's owners are not
the split's first owners, and the shadow's are drawn independently of both. Buckets are
sticky: an owner keeps its version while the table stays, and raising a percentage only adds
owners to the canary or the shadow.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from enum import StrEnum

from ..errors import Conflict, ModelNotReady
from .base import RoutingTable, check_version_name

__all__ = [
    "Route",
    "RouteReason",
    "bucket",
    "choose_shadow",
    "choose_version",
    "promote",
    "withdraw",
]

_BUCKETS = 10_000  # a bucket is a hundredth of a percent


class RouteReason(StrEnum):
    PINNED = "pinned"
    CANARY = "canary"
    SPLIT = "split"
    STABLE = "stable"


@dataclass(frozen=True)
class Route:
    """The version that serves one request, and why."""

    version: str
    reason: RouteReason


def bucket(owner: str, purpose: str) -> float:
    """Where `owner` falls in [0, 100) for `purpose` (canary, split, shadow): every process and
    machine computes the same."""
    digest = hashlib.sha256(f"{purpose}\0{owner}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % _BUCKETS * 100 / _BUCKETS


def choose_version(table: RoutingTable, owner: str, pinned: str | None = None) -> Route:
    """The version for `owner`'s request (`pinned`: the one it asked for).

    Raises InvalidInput for a malformed pin, ModelNotReady when no stable version is set.
    """
    if pinned is not None:
        check_version_name(pinned)
        return Route(pinned, RouteReason.PINNED)
    if table.stable is None:
        raise ModelNotReady("no model version is promoted to serve yet")
    if table.canary is not None and bucket(owner, "canary") < table.canary_percent:
        return Route(table.canary, RouteReason.CANARY)
    if table.split:
        return Route(_split_version(table.split, bucket(owner, "split")), RouteReason.SPLIT)
    return Route(table.stable, RouteReason.STABLE)


def choose_shadow(table: RoutingTable, owner: str, served: str) -> str | None:
    """The version that gets a copy of `owner`'s request once `served` has answered, or None."""
    if table.shadow is None or table.shadow == served:
        return None
    return table.shadow if bucket(owner, "shadow") < table.shadow_percent else None


def withdraw(table: RoutingTable, version: str) -> RoutingTable:
    """`table` without `version` as canary, in the split or as shadow (a rollback).

    A split left with one version is dropped. Raises Conflict for the stable version.
    """
    if version == table.stable:
        raise Conflict(f"{version} is the stable version: promote another one before removing it")
    split = tuple(entry for entry in table.split if entry[0] != version)
    canary = table.canary != version
    shadow = table.shadow != version
    return replace(
        table,
        canary=table.canary if canary else None,
        canary_percent=table.canary_percent if canary else 0.0,
        split=split if len(split) > 1 else (),
        shadow=table.shadow if shadow else None,
        shadow_percent=table.shadow_percent if shadow else 0.0,
    )


def promote(table: RoutingTable, version: str) -> RoutingTable:
    """`table` with `version` stable: it leaves the canary's or the shadow's place."""
    check_version_name(version)
    if version == table.stable:
        return table
    return replace(withdraw(table, version), stable=version)


def _split_version(split: tuple[tuple[str, float], ...], point: float) -> str:
    total = sum(weight for _, weight in split)
    reached = 0.0
    for version, weight in split:
        reached += weight * 100 / total
        if point < reached:
            return version
    return split[-1][0]  # rounding left `point` just past the last edge
