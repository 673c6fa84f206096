"""What an operator does with model versions: list, add, load, unload, promote, roll back and
route them. The registry holds the truth; loading and unloading act on this process's set."""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from dataclasses import asdict, replace
from typing import Any

from ..errors import ConfigError, Conflict, InvalidInput, ModelVersionUnavailable
from ..hub import (
    EventKind,
    ModelEvent,
    ModelState,
    ModelVersion,
    RoutingTable,
    promote,
    withdraw,
)
from .model_routing import ModelRouter, traffic_shares
from .model_set import ModelSet
from .models import ModelState as HostState
from .running import UNFINISHED
from .services import Services

_QUEUED_SCAN = 1000  # the unfinished tasks `unload` looks through for the version's
# The routing table's fields an operator sets with `route`.
ROUTE_FIELDS = frozenset({"canary", "canary_percent", "split", "shadow", "shadow_percent"})


def router(services: Services) -> ModelRouter:
    """The registry and routing table. Raises Conflict where this process reads none."""
    if services.hub is None:
        raise Conflict("this process reads no model registry (a worker process)")
    return services.hub


def models_here(services: Services) -> ModelSet:
    """The versions this process holds. Raises Conflict where the workers hold them."""
    if services.models is None:
        raise Conflict(
            "models are loaded by the workers in this deployment, not by the API: "
            "load and unload them there"
        )
    return services.models


async def listing(services: Services, *, events: int = 20) -> dict[str, Any]:
    """`registry_listing` of this process's hub, with the canary's and the shadow's live
    figures (what `Services.observer` and `Services.shadow` report, where they run)."""
    here = services.models.versions() if services.models is not None else None
    shown = await registry_listing(router(services), loaded_here=here, events=events)
    shown["canary"] = services.observer.figures() if services.observer else None
    shown["shadow"] = services.shadow.agreement() if services.shadow else None
    return shown


async def registry_listing(
    hub: ModelRouter, *, loaded_here: Collection[str] | None = None, events: int = 20
) -> dict[str, Any]:
    """Every version with its state and share of traffic (and, given `loaded_here`, whether
    this process holds it); the routing table; the newest events."""
    table = await hub.refresh()
    shares = traffic_shares(table)
    versions = [
        {**_version_json(model), "traffic_percent": shares.get(model.version, 0.0)}
        | ({"loaded_here": model.version in loaded_here} if loaded_here is not None else {})
        for model in await hub.registry.versions()
    ]
    return {
        "versions": versions,
        "routing": table_json(table),
        "events": [_event_json(event) for event in await hub.registry.events(limit=events)],
    }


async def served(services: Services) -> dict[str, Any]:
    """What is served, with each version's share of traffic (`GET /v1/models`)."""
    table = router(services).table
    shares = traffic_shares(table)
    ready = services.models.ready_versions() if services.models is not None else None
    return {
        "stable": table.stable,
        "versions": [
            {"version": version, "traffic_percent": share}
            | ({"ready_here": version in ready} if ready is not None else {})
            for version, share in sorted(shares.items())
        ],
        "shadow": table.shadow,
        "shadow_percent": table.shadow_percent,
    }


async def add(services: Services, source: str, *, actor: str) -> tuple[ModelVersion, bool]:
    """Register the model at `source` (a folder or a cached Hub id), read here. Raises
    InvalidInput when no model can be read there."""
    try:
        model = await asyncio.to_thread(models_here(services).describe, source)
    except ConfigError as exc:  # the caller's source, not this server's configuration
        raise InvalidInput(exc.message) from exc
    return await router(services).registry.add(model, actor=actor)


async def load(services: Services, version: str, *, actor: str) -> str:
    """Start loading a registered version beside the others; returns its state here.
    Raises NotFound, or Conflict (409) when it would not fit in the memory budget."""
    model = await router(services).registry.get(version)
    host = await models_here(services).load(model, router(services).registry, actor=actor)
    return "loading" if host.state is HostState.STARTING else host.state.value


async def unload(services: Services, version: str, *, actor: str) -> None:
    """Drain and release a version that the routing table no longer names."""
    hub = router(services)
    table = await hub.refresh()
    if version in table.versions:
        raise Conflict(
            f"model version {version} is in the routing table: "
            + ("promote another one first" if version == table.stable else "roll it back first")
        )

    async def queued() -> bool:
        waiting = await services.store.list(statuses=UNFINISHED, limit=_QUEUED_SCAN)
        return any(task.model_version == version for task in waiting)

    await models_here(services).unload(version, hub.registry, actor=actor, queued=queued)


async def promote_version(
    hub: ModelRouter, version: str, *, actor: str, models: ModelSet | None = None
) -> RoutingTable:
    """Make `version` stable: it must be ready (in `models`, where given: in this process)."""
    model = await hub.registry.get(version)
    ready = (
        model.state is ModelState.READY if models is None else version in models.ready_versions()
    )
    if not ready:
        raise ModelVersionUnavailable(f"model version {version} is not ready: load it first")
    event = ModelEvent(EventKind.PROMOTED, version, "promoted by hand", actor)
    return await hub.change(lambda table: promote(table, version), event)


async def roll_back(hub: ModelRouter, version: str, *, reason: str, actor: str) -> RoutingTable:
    """Take `version` out of the canary's place, the split and the shadow's place."""
    event = ModelEvent(EventKind.ROLLED_BACK, version, reason or "rolled back by hand", actor)
    return await hub.change(lambda table: withdraw(table, version), event)


async def route(hub: ModelRouter, changes: dict[str, Any], *, actor: str) -> RoutingTable:
    """Set the canary and its percentage, the A/B split, the shadow and its percentage."""
    unknown = set(changes) - ROUTE_FIELDS
    if unknown:
        raise InvalidInput(f"unknown routing fields: {', '.join(sorted(unknown))}")
    if "split" in changes:
        changes = {**changes, "split": tuple((v, float(w)) for v, w in changes["split"] or ())}
    described = ", ".join(f"{name}={value}" for name, value in sorted(changes.items()))
    event = ModelEvent(EventKind.ROUTED, None, described[:1024], actor)
    return await hub.change(lambda table: replace(table, **changes), event)


def table_json(table: RoutingTable) -> dict[str, Any]:
    shown = asdict(table)
    shown["split"] = [list(entry) for entry in table.split]
    shown["updated_at"] = table.updated_at.isoformat() if table.updated_at else None
    return shown


def _version_json(model: ModelVersion) -> dict[str, Any]:
    shown = asdict(model)
    for name in ("created_at", "promoted_at"):
        shown[name] = shown[name].isoformat() if shown[name] else None
    shown["source_kind"], shown["state"] = model.source_kind.value, model.state.value
    return shown


def _event_json(event: ModelEvent) -> dict[str, Any]:
    return {**asdict(event), "kind": event.kind.value, "at": event.at.isoformat()}
