"""The local cluster's files: its settings (SAM3_CLUSTER_*), supervisord.conf and nginx.conf."""

from __future__ import annotations

import getpass
import json
import os
import re
import secrets
import shutil
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from string import Template

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
API_REPLICAS = 3
WORKERS = 2
S3_PORTS = 10  # weed mini: S3, master, volume, filer and admin, each HTTP and gRPC
# The machine's servers, which `make cluster` starts when they do not answer.
MACHINE_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432"
MACHINE_REDIS = "redis://127.0.0.1:6379"
MACHINE_BROKER = "amqp://guest:guest@127.0.0.1:5672//"


@dataclass(frozen=True)
class Cluster:
    """Where the cluster lives and what it is called; read from SAM3_CLUSTER_* variables."""

    root: Path
    port: int
    model_size: str
    name: str
    redis_db: int
    timeout_s: float
    postgres_url: str  # the server, without a database
    redis_url: str  # the server, without a database
    broker_url: str

    @classmethod
    def from_env(cls) -> Cluster:
        env = os.environ.get
        return cls(
            root=Path(env("SAM3_CLUSTER_DIR", str(REPO / "var" / "cluster"))).resolve(),
            port=int(env("SAM3_CLUSTER_PORT", "8080")),
            model_size=env("SAM3_CLUSTER_MODEL", "mid"),
            name=env("SAM3_CLUSTER_NAME", "sam3_cluster"),
            redis_db=int(env("SAM3_CLUSTER_REDIS_DB", "3")),
            timeout_s=float(env("SAM3_CLUSTER_TIMEOUT_S", "600")),
            postgres_url=env("SAM3_CLUSTER_POSTGRES_URL", MACHINE_POSTGRES).rstrip("/"),
            redis_url=env("SAM3_CLUSTER_REDIS_URL", MACHINE_REDIS).rstrip("/"),
            broker_url=env("SAM3_CLUSTER_BROKER_URL", MACHINE_BROKER),
        )

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def conf(self) -> Path:
        return self.root / "supervisord.conf"

    @property
    def gateway(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def bucket(self) -> str:
        return self.name.replace("_", "-").lower()


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def cluster_secrets(cluster: Cluster) -> dict[str, str]:
    """S3 credentials and the share-link secret, made once and kept (mode 600)."""
    path = cluster.root / "secrets.json"
    if not path.exists():
        made = {
            "AWS_ACCESS_KEY_ID": f"sam3-{secrets.token_hex(8)}",
            "AWS_SECRET_ACCESS_KEY": secrets.token_hex(24),
            "SAM3_LINK_SECRET": secrets.token_hex(32),
        }
        path.write_text(json.dumps(made))
        path.chmod(0o600)
    loaded: dict[str, str] = json.loads(path.read_text())
    return loaded


def nginx_conf(cluster: Cluster, api_ports: list[int]) -> str:
    """deploy/nginx/nginx.conf with its upstreams, port, user and paths made local."""
    text = (REPO / "deploy" / "nginx" / "nginx.conf").read_text()
    folder = cluster.root / "nginx"
    replacements = {
        "user nginx;": f"user {getpass.getuser()};",
        "listen 8080;": f"listen 127.0.0.1:{cluster.port};",
        "/var/run/nginx.pid": str(folder / "nginx.pid"),
        "/var/cache/nginx": str(folder / "cache"),
    }
    for old, new in replacements.items():
        if old not in text:
            raise SystemExit(f"deploy/nginx/nginx.conf has no {old!r} any more: update {__file__}")
        text = text.replace(old, new)
    server = re.search(r"server api:8000([^;]*);", text)
    if server is None:
        raise SystemExit(f"deploy/nginx/nginx.conf has no `server api:8000`: update {__file__}")
    servers = "\n        ".join(f"server 127.0.0.1:{p}{server.group(1)};" for p in api_ports)
    return text.replace(server.group(0), servers)


def nginx_binary() -> str:
    """nginx's path; exits with what to do when it is not installed."""
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
    if found is None:
        raise SystemExit("nginx is not installed: run `make system-deps` (as root)")
    return found


def weed_command(cluster: Cluster, ports: list[int]) -> str:
    data = cluster.root / "s3"
    flags = ["s3.port", "s3.port.grpc", "master.port", "master.port.grpc", "volume.port"]
    flags += ["volume.port.grpc", "filer.port", "filer.port.grpc", "admin.port", "admin.port.grpc"]
    weed = shutil.which("weed", path=str(BIN)) or shutil.which("weed") or "weed"
    words = [weed, "-logtostderr", "mini", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1"]
    words += [f"-{flag}={port}" for flag, port in zip(flags, ports, strict=True)]
    words += ["-webdav=false", "-admin.ui=false", "-s3.port.iceberg=0", "-s3.port.lance=0"]
    words += ["-s3.autoCreateBucket=false", "-master.telemetry=false", "-volume.preStopSeconds=0"]
    words += [f"-s3.localSocket={data / 's3.sock'}", f"-filer.localSocket={data / 'filer.sock'}"]
    return " ".join(words)


def environment(cluster: Cluster, model: Path, database_url: str, s3_port: int) -> dict[str, str]:
    """What every process of the cluster gets, on top of the caller's environment."""
    return {
        **cluster_secrets(cluster),
        "AWS_DEFAULT_REGION": "us-east-1",
        "SAM3_MODEL": str(model),
        "SAM3_DATA_DIR": str(cluster.root / "data"),
        "SAM3_DATABASE_URL": database_url,
        "SAM3_REDIS_URL": f"{cluster.redis_url}/{cluster.redis_db}",
        "SAM3_BROKER_URL": cluster.broker_url,
        "SAM3_BROKER_QUEUE": f"{cluster.name}.tasks",
        "SAM3_STORAGE_URL": f"s3://{cluster.bucket}/",
        "SAM3_S3_ENDPOINT_URL": f"http://127.0.0.1:{s3_port}",
        "SAM3_AUTH_ENABLED": "false",
    }


def program(name: str, command: str, priority: int, log: Path, stop_s: int) -> str:
    return (
        f"[program:{name}]\ncommand = {command}\npriority = {priority}\nautorestart = true\n"
        f"startsecs = 2\nstopasgroup = true\nkillasgroup = true\nstopwaitsecs = {stop_s}\n"
        f"redirect_stderr = true\nstdout_logfile = {log}\n\n"
    )


def render(
    cluster: Cluster, env: dict[str, str], api_ports: list[int], s3_ports: list[int]
) -> None:
    """Write supervisord.conf and nginx.conf; `env` is what every process gets."""
    cli = BIN / "sam3-service"
    serve = f"{cli} serve --host 127.0.0.1 --port"
    apis = "".join(
        program(f"api-{i + 1}", f"{serve} {port}", 30, cluster.logs / f"api-{i + 1}.log", 30)
        for i, port in enumerate(api_ports)
    )
    workers = "".join(
        program(f"worker-{i + 1}", f"{cli} worker", 20, cluster.logs / f"worker-{i + 1}.log", 60)
        for i in range(WORKERS)
    )
    quoted = ",".join(f'{k}="{v}"'.replace("%", "%%") for k, v in env.items())
    template = Template((Path(__file__).parent / "supervisord.conf.tmpl").read_text())
    text = template.substitute(
        root=cluster.root,
        logs=cluster.logs,
        environment=quoted,
        weed=weed_command(cluster, s3_ports),
        workers=workers,
        apis=apis,
        nginx=nginx_binary(),
    )
    cluster.conf.write_text(text)
    (cluster.root / "nginx" / "cache").mkdir(parents=True, exist_ok=True)
    (cluster.root / "nginx" / "nginx.conf").write_text(nginx_conf(cluster, api_ports))
