"""One production stack for the integration tests: PostgreSQL, S3, a private Redis, a private
RabbitMQ node and `sam3-service worker` processes, with the API in this process. Started once;
every process it started is killed at the end, even after a failure."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sam3_service.api.app import create_app
from tests.integration.stack import Stack
from tests.servers import S3_BUCKET, RabbitMQNode, RedisServer, fresh_database


@pytest.fixture(scope="package")
def database_url(postgres_admin_url: str) -> Iterator[str]:
    """A new PostgreSQL database for the package, dropped afterwards."""
    with fresh_database(postgres_admin_url, "sam3_integration") as url:
        yield url


@pytest.fixture(scope="package")
def stack(
    tiny_model_dir: Path,
    database_url: str,
    s3_endpoint_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    """The servers, and two workers starting (tests wait for them with `live_workers`)."""
    redis, rabbitmq = RedisServer(), RabbitMQNode()
    logs = tmp_path_factory.mktemp("integration")
    fields = {
        "model": str(tiny_model_dir),
        "device": "cpu",
        "data_dir": str(logs / "data"),
        "database_url": database_url,
        "storage_url": f"s3://{S3_BUCKET}/integration-{uuid.uuid4().hex[:12]}",
        "s3_endpoint_url": s3_endpoint_url,
        "redis_url": redis.url,
        "broker_url": rabbitmq.url,
        "worker_heartbeat_s": 0.5,
        "task_retry_backoff_s": 0.2,
        "task_max_attempts": 4,
        "sync_timeout_s": 60,
        "link_secret": "integration-link-secret-0123456789abcdef",
    }
    stack = Stack(fields, redis, rabbitmq, logs)
    try:
        redis.start()
        rabbitmq.start()
        stack.start_worker()
        stack.start_worker()
        yield stack
    finally:
        stack.stop_workers()
        rabbitmq.remove()
        redis.stop()


@pytest.fixture(scope="package")
def api(stack: Stack) -> Iterator[TestClient]:
    """The API on the stack, without a model of its own."""
    with TestClient(create_app(stack.settings())) as client:
        yield client
