"""The local cluster under supervisor: `up`, `status` and `down` (make cluster, cluster-status,
cluster-down).

nginx on 127.0.0.1:$SAM3_CLUSTER_PORT (8080) in front of 3 API replicas (`sam3-service serve`
with a broker: they load no model) and 2 Celery workers (`sam3-service worker`, a random model
of size $SAM3_CLUSTER_MODEL, `mid` by default), on the machine's PostgreSQL, Redis and RabbitMQ
(started if not running) and a SeaweedFS S3 server of its own. Everything lives in
$SAM3_CLUSTER_DIR (var/cluster): the rendered configuration, the model, S3's data and logs/.
Its database, queue and bucket are named after $SAM3_CLUSTER_NAME (sam3_cluster), its Redis
database is $SAM3_CLUSTER_REDIS_DB (3): it never touches the tests' data.

Auth is off: every process listens on loopback only, so only this machine reaches it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import boto3
import httpx
import sqlalchemy as sa
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from cluster_files import (
    API_REPLICAS,
    BIN,
    MACHINE_BROKER,
    MACHINE_POSTGRES,
    MACHINE_REDIS,
    S3_PORTS,
    Cluster,
    environment,
    free_ports,
    render,
)


def running(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def start_servers(cluster: Cluster) -> None:
    """The machine's PostgreSQL, Redis and RabbitMQ, started as .ci/run does when they do not
    answer; servers named by SAM3_CLUSTER_*_URL are the caller's to run."""
    if cluster.postgres_url == MACHINE_POSTGRES and not running(5432):
        version = sorted(os.listdir("/etc/postgresql"))[-1]
        start = ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"]
        subprocess.run(start, check=True)
    if cluster.redis_url == MACHINE_REDIS and not running(6379):
        redis = ["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "--port", "6379"]
        subprocess.run([*redis, "--save", "", "--appendonly", "no"], check=True)
    if cluster.broker_url == MACHINE_BROKER and not running(5672):
        subprocess.run(["rabbitmq-server", "-detached"], check=True)
        wait_for(lambda: running(5672), 60, "RabbitMQ did not listen on 5672")


def create_database(cluster: Cluster) -> str:
    """The cluster's own PostgreSQL database (created once); its URL."""
    name = cluster.name
    admin = sa.create_engine(f"{cluster.postgres_url}/postgres", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            found = conn.execute(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            ).first()
            if found is None:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        admin.dispose()
    return f"{cluster.postgres_url}/{name}"


def build_model(cluster: Cluster) -> Path:
    """The random SAM 3 of the cluster's size, built once into its folder."""
    folder = cluster.root / "models" / f"{cluster.model_size}-random"
    if not (folder / "config.json").exists():
        print(f"==> Building the {cluster.model_size} random SAM 3 into {folder}", flush=True)
        command = [str(BIN / "sam3-service"), "build-tiny-model", str(folder)]
        subprocess.run([*command, "--size", cluster.model_size], check=True)
    return folder


def wait_for(ready: Callable[[], bool], timeout_s: float, message: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.5)
    raise SystemExit(message)


def create_bucket(env: dict[str, str]) -> bool:
    """Create the cluster's bucket; False while the S3 server is not answering yet."""
    config = Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 1})
    client = boto3.client(
        "s3",
        endpoint_url=env["SAM3_S3_ENDPOINT_URL"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env["AWS_DEFAULT_REGION"],
        config=config,
    )
    bucket = env["SAM3_STORAGE_URL"].removeprefix("s3://").strip("/")
    try:
        client.create_bucket(Bucket=bucket)
    except ClientError as exc:
        return exc.response["Error"]["Code"] == "BucketAlreadyOwnedByYou"
    except BotoCoreError:
        return False
    finally:
        client.close()
    return True


def supervisor_pid(cluster: Cluster) -> int | None:
    """supervisord's pid while it runs, else None."""
    try:
        pid = int((cluster.root / "supervisord.pid").read_text().strip())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None
    return pid


def gateway_ready(cluster: Cluster) -> tuple[bool, str]:
    try:
        answer = httpx.get(f"{cluster.gateway}/ready", timeout=5)
    except httpx.HTTPError as exc:
        return False, f"the gateway does not answer ({type(exc).__name__})"
    if answer.status_code == 200:
        return True, "ready"
    try:
        body = answer.json()
    except ValueError:
        return False, f"{answer.status_code}"
    if "error" in body:  # the gateway's own answer: no replica answers yet
        return False, f"{answer.status_code} {body['error']['message']}"
    return False, f"{answer.status_code} {body.get('status')}: {body.get('reason')}"


def up(cluster: Cluster) -> int:
    if supervisor_pid(cluster) is not None:
        print(f"==> The cluster in {cluster.root} runs already (make cluster-status)")
        return wait_ready(cluster)
    if running(cluster.port):
        raise SystemExit(f"127.0.0.1:{cluster.port} is taken: set SAM3_CLUSTER_PORT")
    cluster.logs.mkdir(parents=True, exist_ok=True)
    print("==> Starting PostgreSQL, Redis and RabbitMQ where they do not answer", flush=True)
    start_servers(cluster)
    api_ports, s3_ports = free_ports(API_REPLICAS), free_ports(S3_PORTS)
    model, database = build_model(cluster), create_database(cluster)
    env = environment(cluster, model, database, s3_ports[0])
    render(cluster, env, api_ports, s3_ports)
    print(f"==> Starting supervisord ({cluster.conf}); logs in {cluster.logs}", flush=True)
    subprocess.run([str(BIN / "supervisord"), "-c", str(cluster.conf)], check=True)
    wait_for(
        lambda: create_bucket(env),
        60,
        f"S3 did not start: see {cluster.logs}/s3.log; stop the rest with `make cluster-down`",
    )
    return wait_ready(cluster)


def wait_ready(cluster: Cluster) -> int:
    """Wait until the gateway's /ready answers 200; 1 after the timeout, with the reason."""
    deadline, said = time.monotonic() + cluster.timeout_s, ""
    while time.monotonic() < deadline:
        ready, why = gateway_ready(cluster)
        if ready:
            print(
                f"==> Ready: {cluster.gateway} (anonymous, loopback only); logs in {cluster.logs}"
            )
            return 0
        if why != said:
            print(f"    waiting for {cluster.gateway}/ready: {why}", flush=True)
            said = why
        time.sleep(1)
    status(cluster)
    print(
        f"The cluster was not ready within {cluster.timeout_s:g} s (SAM3_CLUSTER_TIMEOUT_S): "
        f"{said}. See the logs in {cluster.logs}; stop it with `make cluster-down`.",
        file=sys.stderr,
    )
    return 1


def status(cluster: Cluster) -> int:
    if supervisor_pid(cluster) is None:
        print(f"No cluster runs from {cluster.root} (start it with `make cluster`).")
        return 0
    ctl = [str(BIN / "supervisorctl"), "-c", str(cluster.conf), "status"]
    return subprocess.run(ctl, check=False).returncode


def down(cluster: Cluster) -> int:
    """Stop every process (supervisord stops them in order, then exits)."""
    pid = supervisor_pid(cluster)
    if pid is None:
        print(f"No cluster runs from {cluster.root}.")
        return 0
    subprocess.run([str(BIN / "supervisorctl"), "-c", str(cluster.conf), "shutdown"], check=True)
    wait_for(lambda: supervisor_pid(cluster) is None, 120, "supervisord did not stop in 120 s")
    print("==> Stopped: nginx, the API replicas, the workers and S3")
    return 0


def main(argv: list[str]) -> int:
    commands = {"up": up, "status": status, "down": down}
    if len(argv) != 1 or argv[0] not in commands:
        print("usage: cluster.py up|status|down", file=sys.stderr)
        return 2
    return commands[argv[0]](Cluster.from_env())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
