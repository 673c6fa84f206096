"""Task records in SQLite or PostgreSQL through SQLAlchemy; the schema comes from Alembic.

The engine is synchronous and each call runs in a worker thread: one code path serves both
databases with the drivers we already ship (pysqlite, psycopg), and Alembic is synchronous anyway.
Every call is a statement or two, so the thread hop costs little next to the query.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from ..database import engine_for, map_errors, tasks, uploads
from ..errors import NotFound
from .base import MUTABLE_FIELDS, TaskRecord, TaskStatus, utcnow

__all__ = ["SqlTaskStore"]


class SqlTaskStore:
    """A TaskStore on a SQLAlchemy engine; the schema must be current (`upgrade_database`)."""

    def __init__(self, url: str) -> None:
        self._engine = engine_for(url)

    async def create(self, record: TaskRecord) -> tuple[TaskRecord, bool]:
        """Insert `record`; if its id, or its owner's `client_id`, exists, return the stored
        one and False (idempotent)."""
        return await asyncio.to_thread(self._create, record, _to_row(record))

    async def get(self, task_id: str) -> TaskRecord:
        """Return the record with this `id`. Raises NotFound."""
        return await asyncio.to_thread(self._get, task_id)

    async def find(self, name: str, *, owner: str | None) -> TaskRecord:
        """The task `owner` names `name` (its `client_id`, else its `id`); None: any owner's,
        the newest. Raises NotFound, the same whether the task is another owner's or none."""
        named = sa.or_(tasks.c.client_id == name, tasks.c.id == name)
        query = tasks.select().where(named).limit(1)
        query = query.order_by((tasks.c.client_id == name).desc(), tasks.c.created_at.desc())
        if owner is not None:
            query = query.where(tasks.c.owner == owner)
        found = await asyncio.to_thread(_select, self._engine, query)
        if not found:
            raise NotFound(_no_task(name))
        return found[0]

    async def add_upload(self, owner: str, sha256: str) -> None:
        """Record that `owner` uploaded the image with this sha256 (again is a no-op)."""
        row = {"owner": owner, "sha256": sha256, "created_at": utcnow()}
        insert = _insert_or_ignore(self._engine.dialect.name, uploads).values(row)
        await asyncio.to_thread(self._execute, insert)

    async def has_upload(self, owner: str, sha256: str) -> bool:
        """Whether `owner` uploaded the image with this sha256."""
        query = sa.select(uploads.c.sha256).where(
            uploads.c.owner == owner, uploads.c.sha256 == sha256
        )
        return await asyncio.to_thread(self._exists, query)

    async def update(
        self, task_id: str, *, expect: set[TaskStatus] | None = None, **fields: Any
    ) -> TaskRecord | None:
        """Change fields in `MUTABLE_FIELDS`; with `expect`, only if the status is one of them.

        The check and the change are one UPDATE, so of two workers racing to move a task out of
        `queued`, exactly one wins. Returns the new record, or None when `expect` did not match.
        Raises NotFound, and ValueError for a field outside `MUTABLE_FIELDS`.
        """
        unknown = fields.keys() - MUTABLE_FIELDS
        if unknown:
            raise ValueError(f"fields that cannot be updated: {sorted(unknown)}")
        values = {name: _column_value(name, value) for name, value in fields.items()}
        return await asyncio.to_thread(self._update, task_id, expect, values)

    async def list(
        self,
        *,
        owner: str | None = None,
        statuses: set[TaskStatus] | None = None,
        limit: int = 50,
    ) -> list[TaskRecord]:
        """The newest records first, optionally only one owner's and only in `statuses`."""
        if limit < 0:
            raise ValueError(f"limit must not be negative, got {limit}")
        query = tasks.select().order_by(tasks.c.created_at.desc(), tasks.c.id.desc()).limit(limit)
        if owner is not None:
            query = query.where(tasks.c.owner == owner)
        if statuses is not None:
            query = query.where(tasks.c.status.in_([status.value for status in statuses]))
        return await asyncio.to_thread(_select, self._engine, query)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await asyncio.to_thread(self._engine.dispose)

    def _create(self, record: TaskRecord, row: dict[str, Any]) -> tuple[TaskRecord, bool]:
        insert = _insert_or_ignore(self._engine.dialect.name, tasks).values(row)
        with map_errors(), self._engine.begin() as conn:
            if conn.execute(insert.returning(tasks.c.id)).first() is not None:
                return record, True
            if record.client_id is None:
                return _fetch(conn, record.id), False
            same = tasks.c.owner == record.owner, tasks.c.client_id == record.client_id
            found = conn.execute(tasks.select().where(*same)).one_or_none()
            return (
                (_to_record(found._mapping), False) if found else (_fetch(conn, record.id), False)
            )

    def _execute(self, statement: Any) -> int:
        with map_errors(), self._engine.begin() as conn:
            return int(conn.execute(statement).rowcount)

    def _exists(self, query: sa.Select[Any]) -> bool:
        with map_errors(), self._engine.connect() as conn:
            return conn.execute(query).first() is not None

    def _get(self, task_id: str) -> TaskRecord:
        with map_errors(), self._engine.connect() as conn:
            return _fetch(conn, task_id)

    def _update(
        self, task_id: str, expect: set[TaskStatus] | None, values: dict[str, Any]
    ) -> TaskRecord | None:
        where = [tasks.c.id == task_id]
        if expect is not None:
            where.append(tasks.c.status.in_([TaskStatus(s).value for s in expect]))
        with map_errors(), self._engine.begin() as conn:
            if values:
                change = tasks.update().where(*where).values(values).returning(*tasks.c)
                row = conn.execute(change).one_or_none()
            else:
                row = conn.execute(tasks.select().where(*where)).one_or_none()
            if row is not None:
                return _to_record(row._mapping)
            _fetch(conn, task_id)  # raises NotFound if the task itself is missing
            return None


def _insert_or_ignore(dialect: str, table: sa.Table) -> Any:
    """An INSERT that does nothing when the row would break any unique constraint."""
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


def _select(engine: Engine, query: sa.Select[Any]) -> list[TaskRecord]:
    return [_to_record(row) for row in _rows(engine, query)]


def _rows(engine: Engine, query: sa.Select[Any]) -> list[Any]:
    with map_errors(), engine.connect() as conn:
        return [row._mapping for row in conn.execute(query)]


def _no_task(name: str) -> str:
    return f"no task {name}"


def _fetch(conn: Connection, task_id: str) -> TaskRecord:
    row = conn.execute(tasks.select().where(tasks.c.id == task_id)).one_or_none()
    if row is None:
        raise NotFound(_no_task(task_id), task_id=task_id)
    return _to_record(row._mapping)


def _column_value(name: str, value: Any) -> Any:
    """`value` as stored in column `name`. Raises ValueError for a bad status or a naive time."""
    if name == "status":
        return TaskStatus(value).value
    if isinstance(value, datetime) and value.tzinfo is None:
        raise ValueError(f"{name}={value!r} is naive: task times must be timezone-aware")
    return value


def _to_row(record: TaskRecord) -> dict[str, Any]:
    return {
        column.name: _column_value(column.name, getattr(record, column.name))
        for column in tasks.columns
    }


def _to_record(row: Any) -> TaskRecord:
    record = TaskRecord(**{column.name: row[column.name] for column in tasks.columns})
    record.status = TaskStatus(record.status)
    return record
