"""Alembic's entry point for the task database.

`sql_store.upgrade_database` passes an open connection in `config.attributes["connection"]`;
without one (authoring a revision with the `alembic` command), `sqlalchemy.url` is used.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from sam3_service.database.schema import metadata


def run_migrations(connection: sa.Connection) -> None:
    """Apply the pending revisions on `connection`, inside its transaction if it has one."""
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    run_migrations(connection)
else:
    engine = sa.create_engine(context.config.get_main_option("sqlalchemy.url", ""))
    with engine.begin() as new_connection:
        run_migrations(new_connection)
    engine.dispose()
