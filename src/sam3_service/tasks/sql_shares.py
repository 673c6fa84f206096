"""Share link records in SQLite or PostgreSQL (the task database), through SQLAlchemy."""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa

from ..database import engine_for, map_errors, shares
from ..errors import NotFound
from .base import ShareRecord

__all__ = ["SqlShareStore"]


class SqlShareStore:
    """A ShareStore on a SQLAlchemy engine; the schema must be current (`upgrade_database`)."""

    def __init__(self, url: str) -> None:
        self._engine = engine_for(url)

    async def add_share(self, share: ShareRecord) -> None:
        """Store a new share record."""
        row = {column.name: getattr(share, column.name) for column in shares.columns}
        await asyncio.to_thread(self._execute, shares.insert().values(row))

    async def get_share(self, share_id: str) -> ShareRecord:
        """Return the share record. Raises NotFound."""
        query = shares.select().where(shares.c.id == share_id)
        row = await asyncio.to_thread(self._first, query)
        if row is None:
            raise NotFound("no such share link")
        return ShareRecord(**{column.name: row[column.name] for column in shares.columns})

    async def delete_shares(self, task_id: str) -> int:
        """Delete every share of the task with this `id`; returns how many there were."""
        return await asyncio.to_thread(
            self._execute, shares.delete().where(shares.c.task_id == task_id)
        )

    async def aclose(self) -> None:
        """Close the connection pool."""
        await asyncio.to_thread(self._engine.dispose)

    def _execute(self, statement: Any) -> int:
        with map_errors(), self._engine.begin() as conn:
            return int(conn.execute(statement).rowcount)

    def _first(self, query: sa.Select[Any]) -> Any:
        with map_errors(), self._engine.connect() as conn:
            row = conn.execute(query).first()
            return None if row is None else row._mapping
