"""API keys and rate limits: the interfaces, their data types, and the factories that pick an
implementation by URL."""

from __future__ import annotations

from urllib.parse import urlsplit

from ..errors import ConfigError
from .base import SECRET_PREFIX, ApiKey, KeyStore, NewKey, RateLimiter, RateVerdict, Scope

__all__ = [
    "SECRET_PREFIX",
    "ApiKey",
    "KeyStore",
    "NewKey",
    "RateLimiter",
    "RateVerdict",
    "Scope",
    "open_key_store",
    "open_rate_limiter",
]

_SQL_SCHEMES = ("sqlite", "postgresql", "postgres")


def open_key_store(url: str, *, default_rate_per_min: int = 60) -> KeyStore:
    """Keys in the task database at `sqlite:///path` or `postgresql+psycopg://...`, whose schema
    must be current (`database.upgrade_database`). Raises ConfigError for any other URL."""
    if urlsplit(url).scheme.partition("+")[0] not in _SQL_SCHEMES:
        raise ConfigError(f"the key database must be sqlite:// or postgresql://, got {url!r}")
    from .sql_keys import SqlKeyStore

    return SqlKeyStore(url, default_rate_per_min=default_rate_per_min)


def open_rate_limiter(url: str) -> RateLimiter:
    """An in-process limiter for an empty URL (one API process), Redis for `redis://`,
    `rediss://` or `unix://` (shared by every replica). Raises ConfigError for any other URL."""
    if not url:
        from .memory_limiter import MemoryRateLimiter

        return MemoryRateLimiter()
    if urlsplit(url).scheme in ("redis", "rediss", "unix"):
        from .redis_limiter import RedisRateLimiter

        return RedisRateLimiter(url)
    raise ConfigError(f"the Redis URL must be empty, redis://, rediss:// or unix://, got {url!r}")
