"""Bringing the database schema up to date with the Alembic revisions shipped in the package."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from .engine import engine_for, map_errors

__all__ = ["alembic_config", "upgrade_database"]

_MIGRATIONS = Path(__file__).with_name("migrations")
_MIGRATION_LOCK = 0x53414D33  # "SAM3": the PostgreSQL advisory lock held while migrating


def upgrade_database(url: str, *, revision: str = "head", only_if_older: bool = False) -> None:
    """Bring the schema at `url` to `revision` (the newest by default); safe to run from several
    processes at once. With `only_if_older`, a schema already past `revision` stays as it is.

    PostgreSQL migrates under an advisory lock, SQLite under its write lock, both inside one
    transaction, so a second process waits, then finds nothing left to do. Raises ConfigError
    for a URL that is not SQLite or PostgreSQL, BackendUnavailable if it cannot be reached.
    """
    engine = engine_for(url)
    try:
        with map_errors(), engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_MIGRATION_LOCK)))
            config = alembic_config(conn)
            if only_if_older and _is_past(config, conn, revision):
                return
            command.upgrade(config, revision)
    finally:
        engine.dispose()


def alembic_config(conn: Connection | None = None) -> Config:
    """Alembic's configuration for the revisions shipped in the package (on `conn`, if given)."""
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = conn
    return config


def _is_past(config: Config, conn: Connection, revision: str) -> bool:
    """Whether the schema on `conn` is already at `revision` or after it."""
    current = MigrationContext.configure(conn).get_current_revision()
    if current is None:
        return False
    script = ScriptDirectory.from_config(config)
    return current == revision or revision in {
        r.revision for r in script.iterate_revisions(current, "base")
    }
