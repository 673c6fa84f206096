"""A consistent dump of every table of the database, and its load into an empty one.

The dump reads the tables that the database holds (every one but Alembic's), not a fixed list:
a table that a later revision adds (a model registry) is backed up and restored with no change
here. Rows are JSON lines, one file per table, with datetimes as ISO 8601 in UTC.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from ..errors import ConfigError, Conflict
from .engine import engine_for, map_errors
from .migrate import alembic_config, upgrade_database

__all__ = ["dump_tables", "load_tables"]

_ALEMBIC_TABLE = "alembic_version"


def dump_tables(url: str, folder: Path) -> tuple[str, dict[str, int]]:
    """Write each table of `url` to `folder/<table>.jsonl` from one read-only snapshot; returns
    the schema's revision and the rows per table. Raises ConfigError for a database that no
    revision made, BackendUnavailable if it cannot be reached."""
    folder.mkdir(parents=True, exist_ok=True)
    engine = engine_for(url)
    try:
        with map_errors(), engine.connect() as conn, _snapshot(conn):
            revision = MigrationContext.configure(conn).get_current_revision()
            if revision is None:
                raise ConfigError(f"{engine.url!r} holds no sam3-service schema to back up")
            counts = {}
            for table in _tables(conn):
                counts[table.name] = _write_rows(conn, table, folder / f"{table.name}.jsonl")
            return revision, counts
    finally:
        engine.dispose()


def load_tables(url: str, folder: Path, revision: str, tables: list[str]) -> dict[str, int]:
    """Load a dump of schema `revision` into the empty database at `url`, then bring its schema
    to this version's newest revision; returns the rows per table.

    Raises ConfigError for a dump of a revision that this version does not know (a newer
    one), Conflict if the database already holds rows in these tables."""
    script = ScriptDirectory.from_config(alembic_config())
    if revision not in {r.revision for r in script.walk_revisions()}:
        raise ConfigError(
            f"the backup's schema revision {revision!r} is newer than this sam3-service knows "
            f"(newest: {script.get_current_head()!r}): restore it with a newer version"
        )
    upgrade_database(url, revision=revision, only_if_older=True)
    engine = engine_for(url)
    try:
        with map_errors(), engine.begin() as conn:
            present = {t.name: t for t in _tables(conn)}
            _refuse_rows(conn, [present[name] for name in tables if name in present])
            counts = {}
            for table in _tables(conn):  # parents before children
                if table.name in tables:
                    counts[table.name] = _read_rows(conn, table, folder / f"{table.name}.jsonl")
    finally:
        engine.dispose()
    upgrade_database(url)
    return counts


@contextmanager
def _snapshot(conn: Connection) -> Iterator[None]:
    """One transaction that sees a single state of every table: PostgreSQL's repeatable read
    (read only), SQLite's write lock (taken by the engine at BEGIN)."""
    if conn.dialect.name == "postgresql":
        conn.execution_options(isolation_level="REPEATABLE READ")
    conn.begin()
    try:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")
        yield
    finally:
        conn.rollback()


def _tables(conn: Connection) -> list[sa.Table]:
    reflected = sa.MetaData()
    reflected.reflect(conn)
    return [t for t in reflected.sorted_tables if t.name != _ALEMBIC_TABLE]


def _write_rows(conn: Connection, table: sa.Table, path: Path) -> int:
    order = list(table.primary_key.columns) or list(table.columns)
    count = 0
    with path.open("w", encoding="utf-8") as out:
        for row in conn.execute(sa.select(table).order_by(*order)):
            out.write(json.dumps(dict(row._mapping), default=_encode, ensure_ascii=False) + "\n")
            count += 1
    return count


def _read_rows(conn: Connection, table: sa.Table, path: Path) -> int:
    dates = {c.name for c in table.columns if isinstance(c.type, sa.DateTime)}
    batch: list[dict[str, Any]] = []
    count = 0
    for row in _lines(path):
        batch.append(
            {k: datetime.fromisoformat(v) if k in dates and v else v for k, v in row.items()}
        )
        if len(batch) == 500:
            conn.execute(table.insert(), batch)
            count, batch = count + len(batch), []
    if batch:
        conn.execute(table.insert(), batch)
    return count + len(batch)


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)


def _refuse_rows(conn: Connection, tables: list[sa.Table]) -> None:
    for table in tables:
        rows = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
        if rows:
            raise Conflict(
                f"the database already holds {rows} rows in {table.name}: restore into an "
                "empty database"
            )


def _encode(value: object) -> str:
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)  # SQLite keeps UTC, naive
        return aware.astimezone(UTC).isoformat()
    raise TypeError(f"cannot write {type(value).__name__} to a backup")
