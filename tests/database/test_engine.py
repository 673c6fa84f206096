"""The PostgreSQL engine survives a dropped connection without pinging before every statement."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from sam3_service.database import engine as engine_module
from sam3_service.database import engine_for, map_errors
from sam3_service.errors import BackendUnavailable

pytestmark = pytest.mark.postgres


def backend_pid(engine: sa.Engine) -> int:
    with map_errors(), engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())


def terminate(admin_url: str, pid: int) -> None:
    """What a server restart does to a pooled connection: the server side is gone."""
    admin = sa.create_engine(admin_url)
    try:
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        admin.dispose()


def test_an_idle_dead_connection_is_replaced_before_use(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "_TRUST_IDLE_S", 0.0)  # every pooled connection is idle
    engine = engine_for(postgres_url)
    try:
        first = backend_pid(engine)
        terminate(postgres_url, first)
        assert backend_pid(engine) != first  # no error: the ping found it dead
    finally:
        engine.dispose()


def test_a_connection_used_moments_ago_is_not_pinged(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Trusted, a dead connection fails one statement; the pool is then renewed."""
    monkeypatch.setattr(engine_module, "_TRUST_IDLE_S", 3600.0)
    engine = engine_for(postgres_url)
    try:
        first = backend_pid(engine)
        terminate(postgres_url, first)
        with pytest.raises(BackendUnavailable):
            backend_pid(engine)
        assert backend_pid(engine) != first
    finally:
        engine.dispose()
