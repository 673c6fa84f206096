"""`/v1/models` (what is served) and `/v1/admin/models` (versions, loading, routing: admin
keys only)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path
from pydantic import BaseModel, ConfigDict, Field

from ...domain import model_admin
from ..deps import CallerDep, ServicesDep
from ..security import admin_keys

router = APIRouter(tags=["models"])
admin_router = APIRouter(prefix="/admin/models", tags=["admin"], dependencies=[Depends(admin_keys)])

VersionPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[!-~]+$")]


class AddModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(
        min_length=1,
        max_length=1024,
        description="A model folder on the server, or a Hugging Face id in its local cache.",
    )


class Rollback(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field("", max_length=512, description="Why, for the event log.")


class Routing(BaseModel):
    """The routing table's fields to change; those left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    canary: str | None = Field(None, min_length=1, max_length=64)
    canary_percent: float | None = Field(None, ge=0, le=100)
    split: list[tuple[str, float]] | None = Field(None, max_length=16)
    shadow: str | None = Field(None, min_length=1, max_length=64)
    shadow_percent: float | None = Field(None, ge=0, le=100)


@router.get("/models")
async def served_models(services: ServicesDep) -> dict[str, Any]:
    """The model versions served, with each one's share of traffic (percent of callers)."""
    return await model_admin.served(services)


@admin_router.get("")
async def list_models(services: ServicesDep) -> dict[str, Any]:
    """Every registered version (state, traffic, loaded here), the routing table, the newest
    events, and the canary's and the shadow's live figures."""
    return await model_admin.listing(services)


@admin_router.post("", status_code=201)
async def add_model(body: AddModel, services: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    """Register the model at `source`, read on this server (its version is its content)."""
    model, created = await model_admin.add(services, body.source, actor=_actor(caller))
    return {"version": model.version, "state": model.state.value, "created": created}


@admin_router.post("/{version}/load", status_code=202)
async def load_model(
    version: VersionPath, services: ServicesDep, caller: CallerDep
) -> dict[str, Any]:
    """Load a registered version beside the others (409 if it would not fit)."""
    state = await model_admin.load(services, version, actor=_actor(caller))
    return {"version": version, "state": state}


@admin_router.post("/{version}/unload")
async def unload_model(
    version: VersionPath, services: ServicesDep, caller: CallerDep
) -> dict[str, Any]:
    """Drain a version the routing table no longer names, then free it."""
    await model_admin.unload(services, version, actor=_actor(caller))
    return {"version": version, "state": "unloaded"}


@admin_router.post("/{version}/promote")
async def promote_model(
    version: VersionPath, services: ServicesDep, caller: CallerDep
) -> dict[str, Any]:
    """Make a ready version the stable one."""
    table = await model_admin.promote_version(
        model_admin.router(services), version, actor=_actor(caller), models=services.models
    )
    return model_admin.table_json(table)


@admin_router.post("/{version}/rollback")
async def roll_back_model(
    version: VersionPath,
    services: ServicesDep,
    caller: CallerDep,
    body: Annotated[Rollback | None, Body()] = None,
) -> dict[str, Any]:
    """Take a version out of the canary's place, the split and the shadow's place."""
    reason = body.reason if body else ""
    table = await model_admin.roll_back(
        model_admin.router(services), version, reason=reason, actor=_actor(caller)
    )
    return model_admin.table_json(table)


@admin_router.put("/routing")
async def set_routing(body: Routing, services: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    """Change the canary (and its percentage), the A/B split, the shadow (and its percentage).
    A field sent as null clears it."""
    changes = body.model_dump(exclude_unset=True)
    for name in ("canary_percent", "shadow_percent"):
        if name in changes and changes[name] is None:
            changes[name] = 0.0
    table = await model_admin.route(model_admin.router(services), changes, actor=_actor(caller))
    return model_admin.table_json(table)


def _actor(caller: CallerDep) -> str:
    return f"key:{caller.key_id}" if caller.key_id else caller.owner
