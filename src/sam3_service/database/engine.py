"""Connecting to the database: one engine recipe and one error mapping for every table's store.

The engines are synchronous and callers run them in worker threads: one code path serves both
databases with the drivers we ship (pysqlite, psycopg), and Alembic is synchronous anyway.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError

from ..errors import BackendUnavailable, ConfigError

_TRUST_IDLE_S = 2.0  # a pooled connection idle for less is used without a ping

__all__ = ["engine_for", "map_errors"]

log = logging.getLogger(__name__)


def engine_for(url: str) -> Engine:
    """An engine for `sqlite:///path` (creating its folder) or `postgresql+psycopg://...`.

    Raises ConfigError for any other URL.
    """
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
        raise ConfigError(f"the database must be sqlite:// or postgresql://, got {url!r}")
    if "connect_timeout" not in parsed.query:
        parsed = parsed.update_query_dict({"connect_timeout": "5"})
    engine = sa.create_engine(parsed)
    sa.event.listen(engine, "connect", _note_checkin)
    sa.event.listen(engine, "checkin", _note_checkin)
    sa.event.listen(engine, "checkout", _ping_if_idle)
    return engine


@contextmanager
def map_errors() -> Iterator[None]:
    """Turn a lost or refused database connection into BackendUnavailable."""
    try:
        yield
    except (OperationalError, InterfaceError) as exc:
        log.warning("the database cannot be reached: %s", exc.orig)  # its address stays here
        raise BackendUnavailable("the database cannot be reached") from exc


def _note_checkin(_dbapi_connection: Any, record: Any) -> None:
    record.info["checked_in_at"] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """Survive a server restart: a connection idle for a while is pinged before use, and a
    dead one is replaced (SQLAlchemy retries the checkout on DisconnectionError).

    `pool_pre_ping` would ping at every checkout: one more round trip per statement, which
    a busy API pays many times a second. A connection used moments ago is trusted; if the
    server died in that moment, the failing statement makes SQLAlchemy drop the whole pool.
    """
    if time.monotonic() - record.info.get("checked_in_at", -math.inf) < _TRUST_IDLE_S:
        return
    try:
        with contextlib.closing(dbapi_connection.cursor()) as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # the driver's own error classes: any failure means unusable
        raise DisconnectionError(f"stale connection: {exc}") from exc


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy emit BEGIN itself (pysqlite's own handling skips it before DDL and SELECT),
    # and use WAL so that readers never wait for the writer.
    dbapi_connection.isolation_level = None
    dbapi_connection.execute("PRAGMA journal_mode=WAL")


def _sqlite_on_begin(conn: Connection) -> None:
    # Take the write lock up front, so concurrent transactions queue on the busy timeout instead
    # of one failing at once with "database is locked" when it turns from reader into writer.
    conn.exec_driver_sql("BEGIN IMMEDIATE")
