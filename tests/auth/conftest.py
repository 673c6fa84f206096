"""The auth tests use the contract fixtures (databases, Redis) and private Redis servers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.auth.servers import RedisServer
from tests.contracts.conftest import postgres_admin_url, postgres_url, redis_url

__all__ = ["postgres_admin_url", "postgres_url", "redis_url"]


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    """A redis-server of this test's own, started; stopped after the test."""
    server = RedisServer()
    server.start()
    yield server
    server.stop()
