"""RedisBreaker: the fail-open call that the cache and the rate limiter share, and its ping."""

from __future__ import annotations

import logging
import time

import pytest

from sam3_service.errors import BackendUnavailable
from sam3_service.redis_breaker import RedisBreaker
from tests.servers import free_port

log = logging.getLogger("tests.redis_breaker")


async def test_a_dead_redis_gives_the_fallback_then_cools_down(
    caplog: pytest.LogCaptureFixture,
) -> None:
    breaker = RedisBreaker(
        f"redis://127.0.0.1:{free_port()}/0", role="Probe", log=log, timeout_s=0.25
    )
    with caplog.at_level(logging.WARNING, logger=log.name):
        assert await breaker.call(lambda: breaker.client.get("k"), "fallback") == "fallback"
        started = time.monotonic()
        for _ in range(50):  # within the cool-down: no connection is tried
            assert await breaker.call(lambda: breaker.client.get("k"), None) is None
        assert time.monotonic() - started < 0.5
        with pytest.raises(BackendUnavailable, match="Probe: Redis is unreachable"):
            await breaker.ping()
    assert breaker.failures == 52
    assert [r.name for r in caplog.records] == [log.name]  # one report, in the user's logger
    await breaker.aclose()


@pytest.mark.redis
async def test_a_live_redis_answers(redis_url: str) -> None:
    breaker = RedisBreaker(redis_url, role="Probe", log=log, timeout_s=1.0)
    await breaker.ping()
    assert await breaker.call(breaker.client.ping, False) is True
    assert breaker.failures == 0
    await breaker.aclose()
