"""Bringing the database schema up to date with the Alembic revisions shipped in the package."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

from .engine import engine_for, map_errors

__all__ = ["upgrade_database"]

_MIGRATIONS = Path(__file__).with_name("migrations")
_MIGRATION_LOCK = 0x53414D33  # "SAM3": the PostgreSQL advisory lock held while migrating


def upgrade_database(url: str) -> None:
    """Bring the schema at `url` to the newest revision; safe to run from several processes at once.

    PostgreSQL migrates under an advisory lock, SQLite under its write lock, both inside one
    transaction, so a second process waits, then finds nothing left to do. Raises ConfigError
    for a URL that is not SQLite or PostgreSQL, BackendUnavailable if it cannot be reached.
    """
    engine = engine_for(url)
    try:
        with map_errors(), engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_MIGRATION_LOCK)))
            command.upgrade(_alembic_config(conn), "head")
    finally:
        engine.dispose()


def _alembic_config(conn: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = conn
    return config
