"""The model hub in a running service: the registry and its routing table, the loader of
versions, and the starting model's registration (made stable when nothing is).

At start, once the starting model has loaded, its version is registered and, if the routing
table has no stable version, promoted; the other versions the table names are loaded beside
it (if they fit), so that the routing survives a restart.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from .domain.canary import CanaryWatch
from .domain.model_routing import ModelRouter
from .domain.model_set import ModelSet
from .domain.models import ModelHost
from .domain.shadow import ShadowRunner
from .errors import Sam3Error
from .hub import (
    EventKind,
    ModelEvent,
    ModelRegistry,
    ModelState,
    ModelVersion,
    RollbackRules,
    SourceKind,
    open_model_registry,
    promote,
)
from .inference.base import Engine
from .settings import Settings

log = logging.getLogger(__name__)

MEMORY_MARGIN = 1.25  # activations and caches beside the weights
STARTUP_ACTOR = "startup"


class VersionLoader:
    """Loads registered versions with `engine_loader` (a spec -> its loader with the engine
    settings; see `domain.model_set`)."""

    def __init__(
        self, settings: Settings, engine_loader: Callable[[str], Callable[[], Engine]]
    ) -> None:
        self._settings = settings
        self._engine_loader = engine_loader

    def need(self, model: ModelVersion) -> int:
        from .inference.footprint import weights_bytes

        return int(weights_bytes(self.folder(model), model.dtype) * MEMORY_MARGIN)

    def free(self) -> int:
        import torch

        if self._settings.device != "cpu" and torch.cuda.is_available():
            return int(torch.cuda.mem_get_info()[0])
        return _available_ram()

    def load(self, model: ModelVersion) -> Engine:
        return self._engine_loader(str(self.folder(model)))()

    @property
    def settings(self) -> Settings:
        return self._settings

    def describe(self, source: str) -> ModelVersion:
        device, dtype = placement(self._settings)
        return describe(source, self._settings, dtype=dtype, device=device)

    def folder(self, model: ModelVersion) -> Path:
        """The version's weights on this machine. Raises ConfigError."""
        if model.source_kind is SourceKind.LOCAL:
            return Path(model.source)
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(model.source, revision=model.revision, local_files_only=True))


def placement(settings: Settings) -> tuple[str, str]:
    """The device and dtype this process loads models with (as `load_weights` chooses)."""
    import torch

    device = settings.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return device, "bfloat16" if device == "cuda" else "float32"


def describe(spec: str, settings: Settings, *, dtype: str, device: str) -> ModelVersion:
    """The registry's record of the model `spec` names (a folder, a cached Hub id or
    tiny-random), read from its content. Blocks. Raises ConfigError."""
    from .inference import resolve_model
    from .inference.checksum import model_fingerprint

    source = resolve_model(spec, settings.models_dir)
    fingerprint = model_fingerprint(source.path)
    hub = fingerprint.revision is not None and "/" in source.name and not Path(spec).exists()
    return ModelVersion(
        version=source.version,
        name=source.name,
        source_kind=SourceKind.HUB if hub else SourceKind.LOCAL,
        source=source.name if hub else str(source.path),
        revision=fingerprint.revision if hub else None,
        checksum=fingerprint.checksum,
        dtype=dtype,
        device=device,
    )


async def open_router(settings: Settings, stack: AsyncExitStack) -> ModelRouter:
    """The registry on the task database and its routing table, refreshed every
    SAM3_ROUTING_POLL_S until the stack closes."""
    registry = await open_model_registry(settings.resolved_database_url)
    stack.push_async_callback(registry.aclose)
    router = ModelRouter(registry, poll_s=settings.routing_poll_s)
    await router.refresh()
    _background(stack, router.poll())
    return router


def open_watchers(
    settings: Settings, stack: AsyncExitStack, router: ModelRouter, *, holds_models: bool
) -> tuple[CanaryWatch, ShadowRunner | None]:
    """The automatic rollback's watch and, where this process holds the models (a shadow
    version runs beside the served one), the shadow runner."""
    rules = RollbackRules(
        min_requests=settings.rollback_min_requests,
        max_error_rate_increase=settings.rollback_max_error_rate_increase,
        max_p95_ratio=settings.rollback_max_p95_ratio,
        window=settings.rollback_window_requests,
    )
    watch = CanaryWatch(router.registry, rules)
    if not holds_models:
        return watch, None
    shadow = ShadowRunner(
        max_in_flight=settings.shadow_max_in_flight, min_iou=settings.shadow_min_iou
    )
    stack.push_async_callback(shadow.aclose)
    return watch, shadow


def register_startup(
    loader: VersionLoader, stack: AsyncExitStack, router: ModelRouter, models: ModelSet
) -> None:
    """Once the starting model loaded: register it, promote it if nothing is stable, and load
    the other versions the routing table names (in the background)."""
    _background(stack, _register_when_loaded(loader, router, models))


async def _register_when_loaded(
    loader: VersionLoader, router: ModelRouter, models: ModelSet
) -> None:
    host = models.host()
    while not await host.until_loaded(3600):
        pass
    info = host.info
    if info is None:
        return  # a failed start: /ready says why
    try:
        record = await asyncio.to_thread(
            describe, host.name, loader.settings, dtype=info.dtype, device=info.device
        )
        registry = router.registry
        record, _ = await registry.add(record, actor=STARTUP_ACTOR)
        await registry.set_state(record.version, ModelState.READY, actor=STARTUP_ACTOR)
        need = await asyncio.to_thread(loader.need, record)
        models.note_size(record.version, need)
        table = await router.refresh()
        if table.stable is None:
            event = ModelEvent(
                EventKind.PROMOTED, record.version, "the starting model", STARTUP_ACTOR
            )
            await router.change(lambda current: promote(current, record.version), event)
        await _restore(router.registry, router.table.versions - {record.version}, models)
    except Sam3Error as exc:
        log.error("the starting model could not be registered: %s", exc.message)


async def register_held(settings: Settings, host: ModelHost, *, actor: str) -> None:
    """Register a loaded `host`'s version as ready, so that operators can route to it and
    promote it (a worker's model: the worker's reports say where it is held). Logs failures."""
    info = host.info
    if info is None:
        return
    try:
        registry = await open_model_registry(settings.resolved_database_url)
        try:
            record = await asyncio.to_thread(
                describe, host.name, settings, dtype=info.dtype, device=info.device
            )
            record, _ = await registry.add(record, actor=actor)
            if record.state is not ModelState.READY:
                await registry.set_state(record.version, ModelState.READY, actor=actor)
        finally:
            await registry.aclose()
    except Sam3Error as exc:
        log.error("model version %s could not be registered: %s", info.version, exc.message)


async def _restore(registry: ModelRegistry, versions: set[str], models: ModelSet) -> None:
    """Load the versions the routing table names, each if it fits."""
    for version in sorted(versions):
        try:
            await models.load(await registry.get(version), registry, actor=STARTUP_ACTOR)
        except Sam3Error as exc:
            log.warning("model version %s named by the routing table not loaded: %s", version, exc)


def _background(stack: AsyncExitStack, work: Any) -> None:
    task = asyncio.ensure_future(work)

    async def cancel() -> None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    stack.push_async_callback(cancel)


def _available_ram() -> int:
    """MemAvailable from /proc/meminfo, else the physical memory."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
