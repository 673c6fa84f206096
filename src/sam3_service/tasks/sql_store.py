"""Task records in SQLite or PostgreSQL through SQLAlchemy; the schema comes from Alembic.

The engine is synchronous and each call runs in a worker thread: one code path serves both
databases with the drivers we already ship (pysqlite, psycopg), and Alembic is synchronous anyway.
Every call is a statement or two, so the thread hop costs little next to the query.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import InterfaceError, OperationalError

from ..errors import BackendUnavailable, ConfigError, NotFound
from .base import MUTABLE_FIELDS, TaskRecord, TaskStatus

__all__ = ["SqlTaskStore", "upgrade_database"]

_MIGRATIONS = Path(__file__).with_name("migrations")
_MIGRATION_LOCK = 0x53414D33  # "SAM3": the PostgreSQL advisory lock held while migrating


class _UtcDateTime(sa.TypeDecorator[datetime]):
    """Aware datetimes, stored as UTC (SQLite keeps no offset, so we add it back when reading)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        return None if value is None else value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")

metadata = sa.MetaData()
tasks = sa.Table(
    "tasks",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("input_key", sa.String(1024), nullable=False),
    sa.Column("params", _JSON, nullable=False),
    sa.Column("owner", sa.String(255), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("progress", sa.Float, nullable=False),
    sa.Column("model_version", sa.String(255)),
    sa.Column("result_key", sa.String(1024)),
    sa.Column("error", _JSON),
    sa.Column("timings_ms", _JSON, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("created_at", _UtcDateTime, nullable=False),
    sa.Column("started_at", _UtcDateTime),
    sa.Column("finished_at", _UtcDateTime),
    sa.Index("ix_tasks_owner_created_at", "owner", "created_at"),
)


class SqlTaskStore:
    """A TaskStore on a SQLAlchemy engine; the schema must be current (see `upgrade_database`)."""

    def __init__(self, url: str) -> None:
        self._engine = _engine_for(url)

    async def create(self, record: TaskRecord) -> tuple[TaskRecord, bool]:
        """Insert `record`; if its id exists, return the stored one and False (idempotent)."""
        return await asyncio.to_thread(self._create, record, _to_row(record))

    async def get(self, task_id: str) -> TaskRecord:
        """Return the record. Raises NotFound."""
        return await asyncio.to_thread(self._get, task_id)

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
        insert = _insert_or_ignore(self._engine.dialect.name).values(row).returning(tasks.c.id)
        with _map_errors(), self._engine.begin() as conn:
            if conn.execute(insert).first() is not None:
                return record, True
            return _fetch(conn, record.id), False

    def _get(self, task_id: str) -> TaskRecord:
        with _map_errors(), self._engine.connect() as conn:
            return _fetch(conn, task_id)

    def _update(
        self, task_id: str, expect: set[TaskStatus] | None, values: dict[str, Any]
    ) -> TaskRecord | None:
        where = [tasks.c.id == task_id]
        if expect is not None:
            where.append(tasks.c.status.in_([TaskStatus(s).value for s in expect]))
        with _map_errors(), self._engine.begin() as conn:
            if values:
                change = tasks.update().where(*where).values(values).returning(*tasks.c)
                row = conn.execute(change).one_or_none()
            else:
                row = conn.execute(tasks.select().where(*where)).one_or_none()
            if row is not None:
                return _to_record(row._mapping)
            _fetch(conn, task_id)  # raises NotFound if the task itself is missing
            return None


def upgrade_database(url: str) -> None:
    """Bring the schema at `url` to the newest revision; safe to run from several processes at once.

    PostgreSQL migrates under an advisory lock, SQLite under its write lock, both inside one
    transaction, so a second process waits, then finds nothing left to do.
    """
    engine = _engine_for(url)
    try:
        with _map_errors(), engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_MIGRATION_LOCK)))
            command.upgrade(_alembic_config(conn), "head")
    finally:
        engine.dispose()


def _engine_for(url: str) -> Engine:
    """An engine for `sqlite:///path` (creating its folder) or `postgresql+psycopg://...`."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        if parsed.database in (None, "", ":memory:"):
            raise ConfigError(f"SQLite needs a file path, got {url!r}")
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(parsed)
        sa.event.listen(engine, "connect", _sqlite_on_connect)
        sa.event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    if parsed.drivername != "postgresql+psycopg":
        raise ConfigError(f"the task database must be sqlite:// or postgresql://, got {url!r}")
    if "connect_timeout" not in parsed.query:
        parsed = parsed.update_query_dict({"connect_timeout": "5"})
    return sa.create_engine(parsed, pool_pre_ping=True)  # pre-ping: survive a server restart


def _alembic_config(conn: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = conn
    return config


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy emit BEGIN itself (pysqlite's own handling skips it before DDL and SELECT),
    # and use WAL so that readers never wait for the writer.
    dbapi_connection.isolation_level = None
    dbapi_connection.execute("PRAGMA journal_mode=WAL")


def _sqlite_on_begin(conn: Connection) -> None:
    # Take the write lock up front, so concurrent transactions queue on the busy timeout instead
    # of one failing at once with "database is locked" when it turns from reader into writer.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _insert_or_ignore(dialect: str) -> Any:
    if dialect == "postgresql":
        return postgresql.insert(tasks).on_conflict_do_nothing(index_elements=["id"])
    return sqlite.insert(tasks).on_conflict_do_nothing(index_elements=["id"])


def _select(engine: Engine, query: sa.Select[Any]) -> list[TaskRecord]:
    with _map_errors(), engine.connect() as conn:
        return [_to_record(row._mapping) for row in conn.execute(query)]


def _fetch(conn: Connection, task_id: str) -> TaskRecord:
    row = conn.execute(tasks.select().where(tasks.c.id == task_id)).one_or_none()
    if row is None:
        raise NotFound(f"no task {task_id!r}", task_id=task_id)
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


@contextmanager
def _map_errors() -> Iterator[None]:
    """Turn a lost or refused database connection into BackendUnavailable."""
    try:
        yield
    except (OperationalError, InterfaceError) as exc:
        raise BackendUnavailable(f"the task database cannot be reached: {exc.orig}") from exc
