"""The model hub's records (versions, events, the routing table) and the registry of them."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol

from ..errors import InvalidInput

MAX_VERSION_CHARS = 64


def utcnow() -> datetime:
    return datetime.now(UTC)


class ModelState(StrEnum):
    REGISTERED = "registered"
    LOADING = "loading"
    READY = "ready"
    DRAINING = "draining"
    UNLOADED = "unloaded"
    FAILED = "failed"


class SourceKind(StrEnum):
    LOCAL = "local"  # a folder on this machine
    HUB = "hub"  # a Hugging Face id at a revision, already in the local cache


class EventKind(StrEnum):
    REGISTERED = "registered"
    LOADING = "loading"
    LOADED = "loaded"
    DRAINING = "draining"
    UNLOADED = "unloaded"
    FAILED = "failed"
    PROMOTED = "promoted"
    ROLLED_BACK = "rolled_back"
    ROUTED = "routed"  # any other change of the routing table


# The event that each state change logs.
EVENT_OF_STATE = {
    ModelState.REGISTERED: EventKind.REGISTERED,
    ModelState.LOADING: EventKind.LOADING,
    ModelState.READY: EventKind.LOADED,
    ModelState.DRAINING: EventKind.DRAINING,
    ModelState.UNLOADED: EventKind.UNLOADED,
    ModelState.FAILED: EventKind.FAILED,
}


@dataclass(frozen=True)
class ModelVersion:
    """One version of the model: where its weights are, what they hash to, and its state."""

    version: str  # from the content: the Hub commit's start, else the weights' checksum's
    name: str
    source_kind: SourceKind
    source: str  # the folder, or the Hugging Face id
    checksum: str  # SHA-256 of the weights and configurations
    dtype: str
    device: str
    revision: str | None = None  # the Hub commit, for a Hub source
    state: ModelState = ModelState.REGISTERED
    created_at: datetime = field(default_factory=utcnow)
    promoted_at: datetime | None = None
    promoted_by: str | None = None

    def __post_init__(self) -> None:
        check_version_name(self.version)
        object.__setattr__(self, "source_kind", SourceKind(self.source_kind))
        object.__setattr__(self, "state", ModelState(self.state))
        if self.source_kind is SourceKind.HUB and not self.revision:
            raise InvalidInput(f"the Hub model {self.source!r} needs its revision")
        _check_lengths(
            name=(self.name, 255),
            source=(self.source, 1024),
            revision=(self.revision, 64),
            checksum=(self.checksum, 64),
            dtype=(self.dtype, 16),
            device=(self.device, 16),
            promoted_by=(self.promoted_by, 255),
        )


@dataclass(frozen=True)
class ModelEvent:
    """Something that happened to a version (or to the routing table), by whom and why."""

    kind: EventKind
    version: str | None = None
    reason: str = ""
    actor: str = ""
    at: datetime = field(default_factory=utcnow)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", EventKind(self.kind))
        _check_lengths(reason=(self.reason, 1024), actor=(self.actor, 255))


@dataclass(frozen=True)
class RoutingTable:
    """Which versions serve whom.

    `stable` serves by default. A `canary` takes `canary_percent` of the owners; the others go
    to `stable`, or, with a `split` (at least two versions and their weights), are shared out
    by weight. A `shadow` gets a copy of `shadow_percent` of the owners' requests. `revision`
    counts the table's changes: writers name the revision they changed (compare and set).
    """

    stable: str | None = None
    canary: str | None = None
    canary_percent: float = 0.0
    split: tuple[tuple[str, float], ...] = ()
    shadow: str | None = None
    shadow_percent: float = 0.0
    revision: int = 0
    updated_at: datetime | None = None
    updated_by: str | None = None

    def __post_init__(self) -> None:
        for version in self.versions:
            check_version_name(version)
        if self.versions and self.stable is None:
            raise InvalidInput("a routing table that names versions needs a stable version")
        _check_percent("canary", self.canary, self.canary_percent)
        _check_percent("shadow", self.shadow, self.shadow_percent)
        if self.stable is not None and self.stable in (self.canary, self.shadow):
            raise InvalidInput(f"{self.stable} is the stable version: it cannot also be tried")
        _check_split(self.split)

    @property
    def versions(self) -> set[str]:
        """Every version the table names."""
        named = {self.stable, self.canary, self.shadow, *(v for v, _ in self.split)}
        return {version for version in named if version is not None}


class ModelRegistry(Protocol):
    """Durable model versions, their events and the routing table, in the task database.

    Eight methods, not six: promoting or rolling back changes the table, a version and the
    event log together, so one store holds all three and writes them in one transaction.
    """

    async def add(self, model: ModelVersion, *, actor: str) -> tuple[ModelVersion, bool]:
        """Register `model`, logging a `registered` event; if its version exists, return the
        stored one and False."""

    async def get(self, version: str) -> ModelVersion:
        """The version named `version`. Raises NotFound."""

    async def versions(self) -> list[ModelVersion]:
        """Every registered version, the oldest first."""

    async def set_state(
        self,
        version: str,
        state: ModelState,
        *,
        expect: set[ModelState] | None = None,
        reason: str = "",
        actor: str = "",
    ) -> ModelVersion | None:
        """Move `version` to `state` (with `expect`, only from one of those) and log the
        change's event. Returns the new record, or None when `expect` did not match.
        Raises NotFound."""

    async def events(self, version: str | None = None, *, limit: int = 50) -> list[ModelEvent]:
        """The newest events first, optionally only one version's."""

    async def routing(self) -> RoutingTable:
        """The routing table; an empty one (revision 0) before the first `set_routing`."""

    async def set_routing(
        self, table: RoutingTable, *, expect_revision: int, event: ModelEvent
    ) -> RoutingTable:
        """Store `table` as revision `expect_revision + 1` and log `event`; a version that
        becomes stable is stamped promoted (at the event's time, by its actor).

        Raises Conflict if the stored revision is not `expect_revision` (someone changed it
        meanwhile), NotFound if the table names a version that is not registered."""

    async def aclose(self) -> None:
        """Close the connection pool."""


def check_version_name(version: str) -> None:
    """Raise InvalidInput unless `version` is 1 to 64 printable characters without spaces."""
    if not 0 < len(version) <= MAX_VERSION_CHARS or not version.isprintable() or " " in version:
        raise InvalidInput(f"a model version is 1 to {MAX_VERSION_CHARS} characters: {version!r}")


def _check_lengths(**values: tuple[str | None, int]) -> None:
    """Raise InvalidInput for a text longer than its column holds."""
    for name, (text, most) in values.items():
        if text is not None and len(text) > most:
            raise InvalidInput(f"{name} is {len(text)} characters, the most is {most}")


def _check_percent(role: str, version: str | None, percent: float) -> None:
    if not 0 <= percent <= 100:
        raise InvalidInput(f"the {role} percentage must be within 0..100, got {percent}")
    if percent > 0 and version is None:
        raise InvalidInput(f"a {role} percentage needs a {role} version")


def _check_split(split: tuple[tuple[str, float], ...]) -> None:
    if not split:
        return
    versions = [version for version, _ in split]
    if len(split) < 2 or len(set(versions)) != len(versions):
        raise InvalidInput(f"an A/B split needs two or more distinct versions, got {versions}")
    if any(not (math.isfinite(weight) and weight > 0) for _, weight in split):
        raise InvalidInput(f"A/B split weights must be positive numbers, got {list(split)}")
