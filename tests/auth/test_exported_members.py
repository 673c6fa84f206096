"""The package's public surface: `__all__` is exact, and the factories pick by URL."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import sam3_service.auth as auth
import sam3_service.auth.base as base
from sam3_service.auth import open_key_store, open_rate_limiter
from sam3_service.auth.memory_limiter import MemoryRateLimiter
from sam3_service.auth.redis_limiter import RedisRateLimiter
from sam3_service.auth.sql_keys import SqlKeyStore
from sam3_service.errors import ConfigError


def test_all_exports_the_interfaces_their_types_and_the_factories() -> None:
    defined_in_base = {
        name
        for name, value in vars(base).items()
        if not name.startswith("_") and getattr(value, "__module__", base.__name__) == base.__name__
    }
    assert set(auth.__all__) == defined_in_base | {"open_key_store", "open_rate_limiter"}
    for name in auth.__all__:
        assert getattr(auth, name) is not None


def test_the_package_loads_no_database_or_redis_client() -> None:
    code = (
        "import sys, sam3_service.auth; "
        "assert 'sqlalchemy' not in sys.modules and 'redis' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


async def test_open_rate_limiter_picks_by_url() -> None:
    assert isinstance(open_rate_limiter(""), MemoryRateLimiter)
    limiter = open_rate_limiter("redis://127.0.0.1:1/0")
    assert isinstance(limiter, RedisRateLimiter)
    await limiter.aclose()
    with pytest.raises(ConfigError, match="redis://"):
        open_rate_limiter("memcached://127.0.0.1")


async def test_open_key_store_picks_by_url(tmp_path: Path) -> None:
    store = open_key_store(f"sqlite:///{tmp_path / 'k.db'}")
    assert isinstance(store, SqlKeyStore)
    await store.aclose()
    with pytest.raises(ConfigError, match="sqlite:// or postgresql://"):
        open_key_store("mysql://db/keys")
