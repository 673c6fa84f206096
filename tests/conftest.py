"""Fixtures shared by the whole suite: the tiny model, and the real servers' URLs.

PostgreSQL and Redis run on this machine already (override with SAM3_TEST_POSTGRES_URL /
SAM3_TEST_REDIS_URL); SeaweedFS is started for the session.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import kombu
import pytest
import redis
import sqlalchemy as sa

from sam3_service.domain.models import ModelHost
from sam3_service.runtime import model_host
from sam3_service.settings import Settings
from tests.helpers import make_settings
from tests.servers import (
    S3_ACCESS_KEY,
    S3_BUCKET,
    S3_SECRET_KEY,
    RedisServer,
    create_bucket_when_ready,
    delete_queues,
    free_ports,
    fresh_database,
    stop,
    weed_mini_command,
)

if TYPE_CHECKING:
    from sam3_service.inference import Sam3Engine

os.environ.setdefault("SAM3_SHUTDOWN_DRAIN_S", "0")  # the servers that tests start stop at once


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random SAM 3, built once per session (about a second)."""
    import torch

    from sam3_service.inference import build_tiny_model

    torch.set_num_threads(2)
    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny-random")


@pytest.fixture(scope="session")
def other_tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random SAM 3 of another seed: another version, whose masks differ."""
    from sam3_service.inference import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("models-b") / "tiny-random-b", seed=1)


@pytest.fixture(scope="session")
def engine(tiny_model_dir: Path) -> Iterator[Sam3Engine]:
    """The SAM 3 engine on the tiny model, on the CPU, shared by the session."""
    from sam3_service.inference import load_engine

    engine = load_engine(str(tiny_model_dir), models_dir=tiny_model_dir.parent, device="cpu")
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def shared_host(
    tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ModelHost]:
    """One loaded tiny model shared by the API tests' apps."""
    settings = make_settings(tiny_model_dir, tmp_path_factory.mktemp("host"))
    host = model_host(settings, str(tiny_model_dir))
    host.load_blocking()
    yield host
    host.close()


@pytest.fixture(scope="session")
def api_settings(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_settings(tiny_model_dir, tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    """A PostgreSQL URL allowed to create databases; fails fast if the server is down."""
    url = os.environ.get(
        "SAM3_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            pass
    except sa.exc.OperationalError as exc:
        pytest.fail(f"PostgreSQL at {url} is unreachable (deselect with -m 'not postgres'): {exc}")
    finally:
        engine.dispose()
    return url


@pytest.fixture
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """The URL of a new, empty database, dropped after the test."""
    with fresh_database(postgres_admin_url, "sam3_test") as url:
        yield url


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The Redis URL; fails fast if the server is down. Tests use their own key prefixes."""
    url = os.environ.get("SAM3_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    client = redis.Redis.from_url(url, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis at {url} is unreachable (deselect with -m 'not redis'): {exc}")
    finally:
        client.close()
    return url


@pytest.fixture(scope="session")
def s3_endpoint_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A SeaweedFS S3 endpoint for the session, holding the bucket `S3_BUCKET`.

    Its credentials are set in the AWS_* environment variables, where production reads them.
    """
    ports = free_ports(10)
    endpoint = f"http://127.0.0.1:{ports[0]}"
    credentials = {"AWS_ACCESS_KEY_ID": S3_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY}
    data_dir = tmp_path_factory.mktemp("seaweedfs")
    log_path = data_dir / "weed.log"
    with (
        open(log_path, "wb") as log,
        subprocess.Popen(
            weed_mini_command(data_dir, ports),
            env={**os.environ, **credentials},
            stdout=log,
            stderr=subprocess.STDOUT,
        ) as server,
        pytest.MonkeyPatch.context() as env,
    ):
        try:
            for name, value in {**credentials, "AWS_DEFAULT_REGION": "us-east-1"}.items():
                env.setenv(name, value)
            create_bucket_when_ready(endpoint, server, log_path)
            yield endpoint
        finally:
            stop(server)
    shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
def s3_url(s3_endpoint_url: str) -> str:
    """`s3://bucket/prefix` in the session's bucket, with a prefix no other test uses."""
    return f"s3://{S3_BUCKET}/test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    """A redis-server of this test's own, started; stopped after the test."""
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def amqp_url() -> str:
    """The RabbitMQ URL (SAM3_TEST_AMQP_URL overrides it); fails fast if the server is down."""
    url = os.environ.get("SAM3_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
    try:
        with kombu.Connection(url, connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:
        pytest.fail(f"RabbitMQ at {url} is unreachable (deselect with -m 'not amqp'): {exc}")
    return url


@pytest.fixture
def queue_name(amqp_url: str) -> Iterator[str]:
    """A queue name no other test uses; the queue and its dead-letter queue go afterwards."""
    name = f"sam3-test-{uuid.uuid4().hex[:12]}"
    yield name
    delete_queues(amqp_url, name)
