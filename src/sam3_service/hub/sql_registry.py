"""The model registry in SQLite or PostgreSQL through SQLAlchemy; the schema comes from Alembic.

As in the task store, the engine is synchronous and each call runs in a worker thread.
"""

from __future__ import annotations

import asyncio
from dataclasses import fields, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from ..database import engine_for, map_errors, model_events, model_routing, model_versions
from ..errors import Conflict, NotFound
from .base import (
    EVENT_OF_STATE,
    EventKind,
    ModelEvent,
    ModelState,
    ModelVersion,
    RoutingTable,
    SourceKind,
)

__all__ = ["SqlModelRegistry"]

_ROUTING_ID = 1  # the routing table's one row


class SqlModelRegistry:
    """A ModelRegistry on a SQLAlchemy engine; the schema must be current (`upgrade_database`)."""

    def __init__(self, url: str) -> None:
        self._engine = engine_for(url)

    async def add(self, model: ModelVersion, *, actor: str) -> tuple[ModelVersion, bool]:
        """Register `model`, logging a `registered` event; if its version exists, return the
        stored one and False."""
        return await asyncio.to_thread(self._add, model, actor)

    async def get(self, version: str) -> ModelVersion:
        """The version named `version`. Raises NotFound."""
        return await asyncio.to_thread(self._get, version)

    async def versions(self) -> list[ModelVersion]:
        """Every registered version, the oldest first."""
        query = model_versions.select().order_by(
            model_versions.c.created_at, model_versions.c.version
        )
        return [_to_version(row) for row in await asyncio.to_thread(self._rows, query)]

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
        event = ModelEvent(EVENT_OF_STATE[ModelState(state)], version, reason, actor)
        return await asyncio.to_thread(self._set_state, version, ModelState(state), expect, event)

    async def events(self, version: str | None = None, *, limit: int = 50) -> list[ModelEvent]:
        """The newest events first, optionally only one version's."""
        if limit < 0:
            raise ValueError(f"limit must not be negative, got {limit}")
        query = model_events.select().order_by(model_events.c.at.desc(), model_events.c.id.desc())
        if version is not None:
            query = query.where(model_events.c.version == version)
        rows = await asyncio.to_thread(self._rows, query.limit(limit))
        return [_to_event(row) for row in rows]

    async def routing(self) -> RoutingTable:
        """The routing table; an empty one (revision 0) before the first `set_routing`."""
        query = model_routing.select().where(model_routing.c.id == _ROUTING_ID)
        rows = await asyncio.to_thread(self._rows, query)
        return _to_table(rows[0]) if rows else RoutingTable()

    async def set_routing(
        self, table: RoutingTable, *, expect_revision: int, event: ModelEvent
    ) -> RoutingTable:
        """Store `table` as revision `expect_revision + 1` and log `event`; a version that
        becomes stable is stamped promoted (at the event's time, by its actor).

        Raises Conflict if the stored revision is not `expect_revision` (someone changed it
        meanwhile), NotFound if the table names a version that is not registered."""
        stored = replace(
            table, revision=expect_revision + 1, updated_at=event.at, updated_by=event.actor
        )
        await asyncio.to_thread(self._set_routing, stored, expect_revision, event)
        return stored

    async def aclose(self) -> None:
        """Close the connection pool."""
        await asyncio.to_thread(self._engine.dispose)

    def _rows(self, query: sa.Select[Any]) -> list[Any]:
        with map_errors(), self._engine.connect() as conn:
            return [row._mapping for row in conn.execute(query)]

    def _add(self, model: ModelVersion, actor: str) -> tuple[ModelVersion, bool]:
        event = ModelEvent(EventKind.REGISTERED, model.version, f"from {model.source}", actor)
        try:
            with map_errors(), self._engine.begin() as conn:
                conn.execute(model_versions.insert().values(_version_row(model)))
                conn.execute(model_events.insert().values(_event_row(event)))
            return model, True
        except IntegrityError:  # registered meanwhile, or before
            return self._get(model.version), False

    def _get(self, version: str) -> ModelVersion:
        with map_errors(), self._engine.connect() as conn:
            return _fetch(conn, version)

    def _set_state(
        self,
        version: str,
        state: ModelState,
        expect: set[ModelState] | None,
        event: ModelEvent,
    ) -> ModelVersion | None:
        where = [model_versions.c.version == version]
        if expect is not None:
            where.append(model_versions.c.state.in_([ModelState(s).value for s in expect]))
        change = model_versions.update().where(*where).values(state=state.value)
        with map_errors(), self._engine.begin() as conn:
            row = conn.execute(change.returning(*model_versions.c)).one_or_none()
            if row is None:
                _fetch(conn, version)  # raises NotFound if the version itself is missing
                return None
            conn.execute(model_events.insert().values(_event_row(event)))
            return _to_version(row._mapping)

    def _set_routing(self, table: RoutingTable, expect_revision: int, event: ModelEvent) -> None:
        row = _table_row(table)
        with map_errors(), self._engine.begin() as conn:
            _require_registered(conn, table.versions)
            before = conn.execute(
                sa.select(model_routing.c.stable).where(model_routing.c.id == _ROUTING_ID)
            ).one_or_none()
            if not _write_table(conn, row, expect_revision, exists=before is not None):
                raise Conflict(
                    f"the routing table changed meanwhile (it is no longer revision "
                    f"{expect_revision}): read it again and retry"
                )
            if table.stable is not None and (before is None or before.stable != table.stable):
                conn.execute(
                    model_versions.update()
                    .where(model_versions.c.version == table.stable)
                    .values(promoted_at=event.at, promoted_by=event.actor)
                )
            conn.execute(model_events.insert().values(_event_row(event)))


def _write_table(conn: Connection, row: dict[str, Any], expect: int, *, exists: bool) -> bool:
    """Compare and set: update the row at revision `expect`, or insert it as the first."""
    if exists:
        change = model_routing.update().where(
            model_routing.c.id == _ROUTING_ID, model_routing.c.revision == expect
        )
        return bool(conn.execute(change.values(row)).rowcount)
    if expect != 0:
        return False
    try:
        with conn.begin_nested():  # a racing first writer fails this insert, not the transaction
            conn.execute(model_routing.insert().values(row))
    except IntegrityError:
        return False
    return True


def _require_registered(conn: Connection, versions: set[str]) -> None:
    query = sa.select(model_versions.c.version).where(model_versions.c.version.in_(versions))
    missing = versions - set(conn.execute(query).scalars())
    if missing:
        raise NotFound(f"no registered model version {', '.join(sorted(missing))}")


def _fetch(conn: Connection, version: str) -> ModelVersion:
    row = conn.execute(
        model_versions.select().where(model_versions.c.version == version)
    ).one_or_none()
    if row is None:
        raise NotFound(f"no model version {version}", version=version)
    return _to_version(row._mapping)


def _version_row(model: ModelVersion) -> dict[str, Any]:
    row = {f.name: getattr(model, f.name) for f in fields(model)}
    return row | {"source_kind": model.source_kind.value, "state": model.state.value}


def _to_version(row: Any) -> ModelVersion:
    values = {f.name: row[f.name] for f in fields(ModelVersion)}
    values |= {
        "source_kind": SourceKind(row["source_kind"]),
        "state": ModelState(row["state"]),
    }
    return ModelVersion(**values)


def _event_row(event: ModelEvent) -> dict[str, Any]:
    return {f.name: getattr(event, f.name) for f in fields(event)} | {"kind": event.kind.value}


def _to_event(row: Any) -> ModelEvent:
    values = {f.name: row[f.name] for f in fields(ModelEvent)}
    return ModelEvent(**values | {"kind": EventKind(row["kind"])})


def _table_row(table: RoutingTable) -> dict[str, Any]:
    row = {f.name: getattr(table, f.name) for f in fields(table)}
    return row | {"id": _ROUTING_ID, "split": [[v, w] for v, w in table.split]}


def _to_table(row: Any) -> RoutingTable:
    values = {f.name: row[f.name] for f in fields(RoutingTable)}
    return RoutingTable(**values | {"split": tuple((v, float(w)) for v, w in row["split"])})
