"""Which version serves a request, and what the hub hears once an inline request ended: the
outcome for the rollback watcher (`Services.observer`), a copy for the shadow version
(`Services.shadow`)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ..hub import Route, RouteReason, choose_shadow
from ..tasks.base import TaskRecord
from . import segment
from .image_input import PreparedImage
from .kinds import TaskRequest
from .params import TaskParams
from .services import Services

log = logging.getLogger(__name__)


def route(services: Services, request: TaskRequest) -> Route | None:
    """The version `request` runs on: its pin, else the routing table's choice for its owner.
    None: the model this process started with (no table yet), or the workers' one.

    Raises InvalidInput for a malformed pin."""
    return route_owner(services, request.routing_owner or request.owner, request.model_version)


def route_owner(services: Services, owner: str, pinned: str | None = None) -> Route | None:
    """`route` for `owner`'s request, `pinned` or not."""
    if services.hub is None:
        return Route(pinned, RouteReason.PINNED) if pinned is not None else None
    chosen = services.hub.route(owner, pinned)
    if chosen is not None and _stable_elsewhere(services, chosen):
        return _own_model(services)
    return chosen


def _own_model(services: Services) -> Route | None:
    """The route to the model this process started with, once it is loaded."""
    assert services.models is not None
    info = services.models.host().info
    return Route(info.version, RouteReason.STABLE) if info is not None else None


def _stable_elsewhere(services: Services, chosen: Route) -> bool:
    """Whether `chosen` is the stable version and this process, which runs models, does not
    hold it: its model changed under the routing table (a new SAM3_MODEL, a rolling update).
    It then serves its own model, as it would with no table, rather than refuse everyone;
    a pinned, canary or split version it lacks is still refused."""
    if chosen.reason is not RouteReason.STABLE or services.models is None:
        return False
    if chosen.version in services.models.versions():
        return False
    if services.hub is not None and services.hub.first_notice(f"stable {chosen.version}"):
        log.warning(
            "the stable model version %s is not loaded here: this process serves its own "
            "model (promote that one, or load %s here)",
            chosen.version,
            chosen.version,
        )
    return True


def served_version(services: Services, owner: str) -> str | None:
    """The version that would serve `owner` here now; None where workers hold the model.
    Raises ModelNotReady or ModelVersionUnavailable."""
    if services.models is None:
        return None
    chosen = route_owner(services, owner)
    host = services.models.host(chosen.version if chosen else None)
    return host.engine().info.version


async def served(
    services: Services,
    request: TaskRequest,
    chosen: Route,
    record: TaskRecord,
    prepared: PreparedImage | None,
    result: dict[str, Any] | None,
    *,
    latency_ms: float,
) -> None:
    """After a routed inline run: tell the observer its outcome, and offer the shadow a copy.
    Neither may change or fail the caller's answer."""
    if services.hub is None:
        return
    table = services.hub.table
    await watched(services, chosen.version, ok=result is not None, latency_ms=latency_ms)
    if services.shadow is None or services.models is None or result is None or prepared is None:
        return
    shadow = choose_shadow(table, request.routing_owner or request.owner, chosen.version)
    if shadow is None or shadow not in services.models.ready_versions():
        return
    try:
        services.shadow.offer(
            chosen.version, shadow, result, _shadow_run(services, shadow, record, prepared)
        )
    except Exception:
        log.exception("the shadow traffic failed")


async def watched(services: Services, version: str, *, ok: bool, latency_ms: float) -> None:
    """Tell the rollback watch how a routed request to `version` ended; read the routing
    table again at once when that rolled a version back."""
    if services.hub is None or services.observer is None:
        return
    try:
        table = services.hub.table
        if await services.observer.observe(table, version, ok=ok, latency_ms=latency_ms):
            await services.hub.refresh()  # rolled back: out of this process's traffic now
    except Exception:
        log.exception("the model observer failed")


def _shadow_run(
    services: Services, version: str, record: TaskRecord, prepared: PreparedImage
) -> Callable[[], Awaitable[dict[str, Any]]]:
    """Run `version` on the request's image and prompt; store nothing, record no task."""

    async def run_shadow() -> dict[str, Any]:
        assert services.models is not None
        params = TaskParams.model_validate(record.params)
        feature = await segment.feature_key(services, record.owner, prepared.decoded.sha256)
        async with services.models.lease(version) as host:
            return await host.run(
                lambda engine: segment.segment_decoded(
                    engine,
                    prepared.decoded,
                    params,
                    limits=services.limits,
                    defaults=services.thresholds,
                    mask=prepared.mask,
                    decode_ms=prepared.decode_ms,
                    feature_key=feature,
                )
            )

    return run_shadow
