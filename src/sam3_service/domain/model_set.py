"""The model versions this process holds side by side: one to look up per request, one more to
load beside the others, one to drain and release.

The process starts with one host (`SAM3_MODEL`), whose version is known once it has loaded;
`host(None)` is that one, so that a process with no routing table serves as it always did.
Other versions load through `load`, which checks the memory budget first.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any, Protocol

from ..errors import ModelNotReady, ModelVersionUnavailable
from ..hub import ModelRegistry, ModelState, ModelVersion, check_fits
from ..inference.base import Engine
from .models import ModelHost
from .models import ModelState as HostState

log = logging.getLogger(__name__)
_DRAIN_POLL_S = 0.02


class VersionLoader(Protocol):
    """How this process loads a registered version (runtime provides it)."""

    def need(self, model: ModelVersion) -> int:
        """Bytes the version takes once loaded (weights and a margin). Blocks: reads files."""

    def free(self) -> int:
        """Bytes the device has free now."""

    def load(self, model: ModelVersion) -> Engine:
        """Load the version's engine. Blocks."""

    def describe(self, source: str) -> ModelVersion:
        """The registry's record of the model at `source`, read here. Blocks."""


class ModelSet:
    """The versions this process holds: version -> `ModelHost`."""

    def __init__(
        self,
        default: ModelHost | None = None,
        *,
        loader: VersionLoader | None = None,
        budget: int | None = None,
        max_pending: int = 64,
        drain_timeout_s: float = 120.0,
    ) -> None:
        self._default = default  # the host this process started with
        self._hosts: dict[str, ModelHost] = {}  # the versions loaded by `load`
        self._sizes: dict[str, int] = {}  # bytes each version takes, for the budget
        self._leases: dict[ModelHost, int] = {}
        self._draining: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._loader = loader
        self._budget = budget
        self._max_pending = max_pending
        self._drain_timeout_s = drain_timeout_s

    def versions(self) -> dict[str, ModelHost]:
        """Every version held here (loading, ready or draining), by version."""
        held = dict(self._hosts)
        info = self._default.info if self._default is not None else None
        if info is not None:
            held.setdefault(info.version, self._default)  # type: ignore[arg-type]
        return held

    def ready_versions(self) -> list[str]:
        """The versions that can serve now, sorted."""
        return sorted(
            version
            for version, host in self.versions().items()
            if host.state is HostState.READY and version not in self._draining
        )

    def is_draining(self, version: str) -> bool:
        return version in self._draining

    def host(self, version: str | None = None) -> ModelHost:
        """The host of `version` (None: the one this process started with), draining or not.

        Raises ModelVersionUnavailable (409) naming a version not held here, ModelNotReady
        while the starting host has not loaded yet (it may be that version)."""
        if version is None:
            return self._fallback()
        found = self.versions().get(version)
        if found is not None:
            return found
        if self._default is not None and self._default.state is HostState.STARTING:
            raise ModelNotReady(self._default.reason, state=HostState.STARTING.value)
        held = ", ".join(self.ready_versions()) or "none"
        raise ModelVersionUnavailable(
            f"model version {version} is not loaded here (ready: {held})", version=version
        )

    @asynccontextmanager
    async def lease(self, version: str | None) -> AsyncIterator[ModelHost]:
        """Hold `version`'s host for a request: `unload` waits until every lease ended.
        Raises as `host` does, and ModelVersionUnavailable for a draining version."""
        host = self.host(version)
        if version is not None and version in self._draining:
            raise ModelVersionUnavailable(
                f"model version {version} is being unloaded", version=version
            )
        self._leases[host] = self._leases.get(host, 0) + 1
        try:
            yield host
        finally:
            self._leases[host] -= 1

    async def load(
        self, model: ModelVersion, registry: ModelRegistry, *, actor: str = ""
    ) -> ModelHost:
        """Start loading `model` beside the others; returns its host (loading). Held already:
        that host. Raises Conflict (409) before loading anything if it would not fit."""
        if self._loader is None:
            raise ModelVersionUnavailable("this process cannot load model versions")
        loader = self._loader
        need = await asyncio.to_thread(loader.need, model)
        free = await asyncio.to_thread(loader.free) if self._budget is None else 0
        held = self.versions().get(model.version)  # checked after the reads: no double load
        if held is not None:
            return held
        check_fits(model.version, need, loaded=self._sizes, budget=self._budget, free=free)
        host = ModelHost(model.name, lambda: loader.load(model), max_pending=self._max_pending)
        self._hosts[model.version], self._sizes[model.version] = host, need
        await registry.set_state(model.version, ModelState.LOADING, actor=actor)
        host.start()
        self._spawn(self._settle(model.version, host, registry, actor))
        return host

    def describe(self, source: str) -> ModelVersion:
        """The registry's record of the model at `source` (a folder or a cached Hub id), as
        this process would load it. Blocks. Raises ConfigError."""
        if self._loader is None:
            raise ModelVersionUnavailable("this process cannot load model versions")
        return self._loader.describe(source)

    def note_size(self, version: str, need: int) -> None:
        """Count the starting version's bytes in the budget."""
        self._sizes[version] = need

    async def unload(
        self,
        version: str,
        registry: ModelRegistry,
        *,
        actor: str = "",
        queued: Callable[[], Awaitable[bool]] | None = None,
    ) -> None:
        """Take `version` out (draining), wait for its requests to end (and, with `queued`,
        until it says no queued task waits for it), free it (unloaded). Raises
        ModelVersionUnavailable if it is not held here."""
        host = self.host(version)
        if version in self._draining:
            raise ModelVersionUnavailable(f"model version {version} is being unloaded already")
        self._draining.add(version)
        try:
            await registry.set_state(version, ModelState.DRAINING, actor=actor)
            await self._drained(host, queued)
            self._hosts.pop(version, None)
            self._sizes.pop(version, None)
            if host is self._default:
                self._default = None
            self._leases.pop(host, None)
            await asyncio.to_thread(host.close)
            await registry.set_state(version, ModelState.UNLOADED, actor=actor)
        finally:
            self._draining.discard(version)
        log.info("model version %s unloaded", version)

    @property
    def state(self) -> HostState:
        """The best state of any version held (the process's model state)."""
        states = {host.state for host in self.versions().values()}
        if self._default is not None:
            states.add(self._default.state)
        for best in (HostState.READY, HostState.STARTING):
            if best in states:
                return best
        return HostState.FAILED if states else HostState.STARTING

    @property
    def inferences(self) -> int:
        return sum(host.inferences for host in self._all_hosts())

    @property
    def inference_seconds(self) -> float:
        return sum(host.inference_seconds for host in self._all_hosts())

    async def until_loaded(self, timeout_s: float) -> bool:
        """Wait until the starting host ended loading (see `ModelHost.until_loaded`); at once
        once it is unloaded and several others serve."""
        try:
            host = self._fallback()
        except ModelNotReady:
            return True
        return await host.until_loaded(timeout_s)

    async def aclose(self) -> None:
        """Stop loading tasks and free the versions that `load` loaded."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for host in self._hosts.values():
            await asyncio.to_thread(host.close)
        self._hosts.clear()

    def _fallback(self) -> ModelHost:
        if self._default is not None:
            return self._default
        held = list(self.versions().values())
        if len(held) == 1:
            return held[0]
        raise ModelNotReady("no model version is promoted to serve yet")

    def _all_hosts(self) -> list[ModelHost]:
        hosts = list(self._hosts.values())
        return hosts + [self._default] if self._default is not None else hosts

    async def _drained(self, host: ModelHost, queued: Callable[[], Awaitable[bool]] | None) -> None:
        """Wait until `host` has no lease, no pending call and no queued task, at most the
        drain timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._drain_timeout_s
        while True:
            if self._leases.get(host, 0) == 0 and host.pending == 0:
                if queued is None or not await queued():
                    return
            if loop.time() >= deadline:
                log.warning("unloading %s with requests still in flight", host.name)
                return
            await asyncio.sleep(_DRAIN_POLL_S)

    async def _settle(
        self, version: str, host: ModelHost, registry: ModelRegistry, actor: str
    ) -> None:
        """Record how the load ended; a failed version leaves the set."""
        while not await host.until_loaded(3600):
            pass
        if host.state is HostState.READY:
            await registry.set_state(version, ModelState.READY, actor=actor)
            return
        self._hosts.pop(version, None)
        self._sizes.pop(version, None)
        await registry.set_state(version, ModelState.FAILED, reason=host.reason[:1024], actor=actor)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
