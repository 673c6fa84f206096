"""API keys in the task database (SQLite or PostgreSQL), so that the CLI and the API share them.

Only the SHA-256 of a key is stored. A key is 256 random bits, so nobody can search for the
secret behind a hash (slow password hashes like bcrypt exist for guessable secrets, and would
cost every request tens of milliseconds); and a hash is enough to find the key by an index.
The table comes from the database's Alembic migrations (`database.upgrade_database`).
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ..database import api_keys, engine_for, map_errors
from ..errors import NotFound
from .base import SECRET_PREFIX, ApiKey, NewKey, Scope

__all__ = ["SqlKeyStore"]


def _hash_secret(secret: str) -> str:
    """The stored form of a key: its SHA-256, in hex."""
    return hashlib.sha256(secret.encode()).hexdigest()


class SqlKeyStore:
    """A KeyStore on a SQLAlchemy engine; the schema must be current."""

    def __init__(self, url: str, *, default_rate_per_min: int = 60) -> None:
        if default_rate_per_min < 1:
            raise ValueError(f"default_rate_per_min must be at least 1, got {default_rate_per_min}")
        self.default_rate_per_min = default_rate_per_min
        self._engine = engine_for(url)

    async def create(
        self, *, scope: Scope, owner: str | None = None, rate_per_min: int | None = None
    ) -> NewKey:
        """Make a key; the owner defaults to the key's id, the rate to the store's default."""
        rate = self.default_rate_per_min if rate_per_min is None else rate_per_min
        if rate < 1:
            raise ValueError(f"the rate must be at least 1 request per minute, got {rate}")
        if owner is not None and not owner.strip():
            raise ValueError("the owner must not be empty")
        key_id = secrets.token_hex(8)
        key = ApiKey(
            id=key_id,
            owner=owner.strip() if owner else key_id,
            scope=Scope(scope),
            rate_per_min=rate,
            created_at=datetime.now(UTC),
        )
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        row = {**_to_row(key), "key_hash": _hash_secret(secret)}
        await asyncio.to_thread(self._execute, api_keys.insert().values(row))
        return NewKey(key=key, secret=secret)

    async def lookup(self, secret: str) -> ApiKey | None:
        """The key with this secret, revoked or not; None if there is none."""
        query = api_keys.select().where(api_keys.c.key_hash == _hash_secret(secret))
        rows = await asyncio.to_thread(_select, self._engine, query)
        return rows[0] if rows else None

    async def get(self, key_id: str) -> ApiKey:
        """The key with this id, revoked or not. Raises NotFound."""
        rows = await asyncio.to_thread(
            _select, self._engine, api_keys.select().where(api_keys.c.id == key_id)
        )
        if not rows:
            raise NotFound("no such API key")
        return rows[0]

    async def list(self, *, include_revoked: bool = False) -> list[ApiKey]:
        """Every key, oldest first."""
        query = api_keys.select().order_by(api_keys.c.created_at, api_keys.c.id)
        if not include_revoked:
            query = query.where(api_keys.c.revoked_at.is_(None))
        return await asyncio.to_thread(_select, self._engine, query)

    async def revoke(self, key_id: str) -> ApiKey:
        """Revoke a key (again is a no-op that keeps the first time). Raises NotFound."""
        return await asyncio.to_thread(self._revoke, key_id, datetime.now(UTC))

    async def aclose(self) -> None:
        """Close the connection pool."""
        await asyncio.to_thread(self._engine.dispose)

    def _execute(self, statement: sa.Executable) -> None:
        with map_errors(), self._engine.begin() as conn:
            conn.execute(statement)

    def _revoke(self, key_id: str, now: datetime) -> ApiKey:
        revoke = (
            api_keys.update()
            .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        with map_errors(), self._engine.begin() as conn:
            conn.execute(revoke)
            row = conn.execute(api_keys.select().where(api_keys.c.id == key_id)).one_or_none()
        if row is None:
            raise NotFound(f"no API key {key_id}")
        return _to_key(row._mapping)


def _select(engine: Engine, query: sa.Select[Any]) -> list[ApiKey]:
    with map_errors(), engine.connect() as conn:
        return [_to_key(row._mapping) for row in conn.execute(query)]


def _to_row(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "owner": key.owner,
        "scope": key.scope.value,
        "rate_per_min": key.rate_per_min,
        "created_at": key.created_at,
        "revoked_at": key.revoked_at,
    }


def _to_key(row: Any) -> ApiKey:
    return ApiKey(
        id=row["id"],
        owner=row["owner"],
        scope=Scope(row["scope"]),
        rate_per_min=row["rate_per_min"],
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
    )
