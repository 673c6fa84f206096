"""API keys in the task database (SQLite or PostgreSQL), so that the CLI and the API share them.

Only the SHA-256 of a key is stored. A key is 256 random bits, so nobody can search for the
secret behind a hash (slow password hashes like bcrypt exist for guessable secrets, and would
cost every request tens of milliseconds); and a hash is enough to find the key by an index.
The table comes from the task database's Alembic migrations (`tasks.upgrade_database`).
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import InterfaceError, OperationalError

from ..errors import BackendUnavailable, ConfigError, NotFound
from .base import SECRET_PREFIX, ApiKey, NewKey, Scope

__all__ = ["SqlKeyStore"]


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


api_keys = sa.Table(
    "api_keys",
    sa.MetaData(),
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("key_hash", sa.String(64), nullable=False),
    sa.Column("owner", sa.String(255), nullable=False),
    sa.Column("scope", sa.String(16), nullable=False),
    sa.Column("rate_per_min", sa.Integer, nullable=False),
    sa.Column("created_at", _UtcDateTime, nullable=False),
    sa.Column("revoked_at", _UtcDateTime),
    sa.Index("ux_api_keys_key_hash", "key_hash", unique=True),
)


def _hash_secret(secret: str) -> str:
    """The stored form of a key: its SHA-256, in hex."""
    return hashlib.sha256(secret.encode()).hexdigest()


class SqlKeyStore:
    """A KeyStore on a SQLAlchemy engine; the schema must be current."""

    def __init__(self, url: str, *, default_rate_per_min: int = 60) -> None:
        if default_rate_per_min < 1:
            raise ValueError(f"default_rate_per_min must be at least 1, got {default_rate_per_min}")
        self.default_rate_per_min = default_rate_per_min
        self._engine = _engine_for(url)

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
        with _map_errors(), self._engine.begin() as conn:
            conn.execute(statement)

    def _revoke(self, key_id: str, now: datetime) -> ApiKey:
        revoke = (
            api_keys.update()
            .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        with _map_errors(), self._engine.begin() as conn:
            conn.execute(revoke)
            row = conn.execute(api_keys.select().where(api_keys.c.id == key_id)).one_or_none()
        if row is None:
            raise NotFound(f"no API key {key_id!r}", key_id=key_id)
        return _to_key(row._mapping)


def _select(engine: Engine, query: sa.Select[Any]) -> list[ApiKey]:
    with _map_errors(), engine.connect() as conn:
        return [_to_key(row._mapping) for row in conn.execute(query)]


def _engine_for(url: str) -> Engine:
    """An engine for `sqlite:///path` or `postgresql+psycopg://...` (as the task store makes)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        if parsed.database in (None, "", ":memory:"):
            raise ConfigError(f"SQLite needs a file path, got {url!r}")
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        return sa.create_engine(parsed)
    if parsed.drivername != "postgresql+psycopg":
        raise ConfigError(f"the key database must be sqlite:// or postgresql://, got {url!r}")
    if "connect_timeout" not in parsed.query:
        parsed = parsed.update_query_dict({"connect_timeout": "5"})
    return sa.create_engine(parsed, pool_pre_ping=True)


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


@contextmanager
def _map_errors() -> Iterator[None]:
    """Turn a lost or refused database connection into BackendUnavailable."""
    try:
        yield
    except (OperationalError, InterfaceError) as exc:
        raise BackendUnavailable(f"the key database cannot be reached: {exc.orig}") from exc
