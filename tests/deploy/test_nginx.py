"""deploy/nginx/nginx.conf: checked by `nginx -t`, then run in front of two live replicas of the
service (uvicorn, the tiny random SAM 3), with only its upstreams, port, user and paths changed."""

from __future__ import annotations

import getpass
import http.client
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sam3_service.api.app import create_app
from sam3_service.domain.models import ModelHost
from sam3_service.settings import Settings
from tests.deploy.files import read, require_tool
from tests.helpers import make_settings, serve_in_thread

MiB = 1 << 20
START_TIMEOUT_S = 10
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def locations(conf: str) -> dict[str, str]:
    """Each `location` block's body, by what follows the keyword (`= /v1/segment`, `/`)."""
    blocks = re.findall(r"^\s*location\s+([^{]+?)\s*\{(.*?)^\s*\}", conf, re.MULTILINE | re.DOTALL)
    return dict(blocks)


def directive(body: str, name: str) -> str:
    match = re.search(rf"^\s*{name}\s+([^;]+);", body, re.MULTILINE)
    assert match is not None, f"no {name}"
    return match.group(1)


def size(text: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([kmg]?)", text.lower()).groups()  # type: ignore[union-attr]
    return int(number) * _UNITS[unit]


def body_limit(location: str) -> int:
    """nginx's client_max_body_size in a location of nginx.conf, bytes."""
    body = locations(read("nginx/nginx.conf"))[location]
    return size(directive(body, "client_max_body_size"))


def api_body_limit(upload_bytes: int) -> int:
    """The largest body the API reads for uploads of this size: base64 JSON plus 1 MiB."""
    return upload_bytes * 4 // 3 + MiB


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def render_conf(folder: Path, upstreams: list[str], port: int) -> Path:
    """nginx.conf with only what differs here changed: servers, port, user and paths."""
    text = read("nginx/nginx.conf")
    replacements = {
        "user nginx;": f"user {getpass.getuser()};",
        "listen 8080;": f"listen 127.0.0.1:{port};",
        "/var/run/nginx.pid": str(folder / "nginx.pid"),
        "/var/cache/nginx": str(folder / "cache"),
    }
    for old, new in replacements.items():
        assert old in text, f"nginx.conf has no {old!r} any more: update render_conf"
        text = text.replace(old, new)
    server = re.search(r"server api:8000([^;]*);", text)
    assert server is not None, "nginx.conf has no `server api:8000` any more: update render_conf"
    servers = " ".join(f"server {upstream}{server.group(1)};" for upstream in upstreams)
    (folder / "cache").mkdir()
    path = folder / "nginx.conf"
    path.write_text(text.replace(server.group(0), servers))
    return path


@pytest.fixture(scope="module")
def replicas(
    tiny_model_dir: Path, shared_host: ModelHost, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[str]]:
    """Two replicas of the service on loopback, sharing one loaded tiny model."""
    with ExitStack() as stack:
        urls = []
        for index in range(2):
            settings = make_settings(tiny_model_dir, tmp_path_factory.mktemp(f"replica{index}"))
            app = create_app(settings, models=shared_host)
            urls.append(stack.enter_context(serve_in_thread(app)))
        yield urls


@contextmanager
def running_nginx(folder: Path, upstreams: list[str]) -> Iterator[str]:
    """nginx with deploy/nginx/nginx.conf in front of `upstreams`; yields its base URL."""
    nginx = require_tool("nginx")
    port = free_port()
    conf = render_conf(folder, upstreams, port)
    log_path = folder / "nginx.log"
    with open(log_path, "wb") as log:
        command = [nginx, "-e", "stderr", "-p", str(folder), "-c", str(conf), "-g", "daemon off;"]
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, process, log_path)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def gateway(replicas: list[str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """nginx in front of the replicas; yields its base URL."""
    upstreams = [url.removeprefix("http://") for url in replicas]
    with running_nginx(tmp_path_factory.mktemp("nginx"), upstreams) as url:
        yield url


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"nginx exited ({process.returncode}):\n{log.read_text()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"nginx did not listen on {port} within {START_TIMEOUT_S} s")


def requests_counted(replica: str, **labels: str) -> float:
    """The replica's own count of the requests it answered that have these labels."""
    text = httpx.get(f"{replica}/metrics").text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "sam3_http_requests_total" and labels.items() <= sample.labels.items()
    )


def test_upload_limits_are_the_apis() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    blocks = locations(read("nginx/nginx.conf"))
    segment, tasks = body_limit("= /v1/segment"), body_limit("/v1/tasks")
    image_limit = api_body_limit(settings.max_upload_bytes)
    video_limit = api_body_limit(max(settings.max_upload_bytes, settings.max_video_bytes))
    assert image_limit <= segment < image_limit + MiB
    assert video_limit <= tasks < video_limit + MiB
    for upload in ("= /v1/segment", "/v1/tasks"):
        assert directive(blocks[upload], "proxy_request_buffering") == "off"


def test_the_sync_route_waits_longer_than_the_api() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    segment = locations(read("nginx/nginx.conf"))["= /v1/segment"]
    assert int(directive(segment, "proxy_read_timeout").removesuffix("s")) > settings.sync_timeout_s


@pytest.mark.deploy
def test_nginx_accepts_the_configuration(tmp_path: Path) -> None:
    conf = render_conf(tmp_path, ["127.0.0.1:8000"], free_port())
    command = [require_tool("nginx"), "-t", "-e", "stderr", "-p", str(tmp_path), "-c", str(conf)]
    checked = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr


@pytest.mark.deploy
def test_requests_are_spread_over_the_replicas(gateway: str, replicas: list[str]) -> None:
    before = [requests_counted(r, route="/health") for r in replicas]
    for _ in range(20):
        assert httpx.get(f"{gateway}/health").status_code == 200
    served = [
        requests_counted(r, route="/health") - b for r, b in zip(replicas, before, strict=True)
    ]
    assert sum(served) == 20
    assert min(served) >= 5, served


@pytest.mark.deploy
def test_an_upload_over_the_limit_is_refused_before_any_replica(
    gateway: str, replicas: list[str]
) -> None:
    limit = body_limit("= /v1/segment")
    before = [requests_counted(r, method="POST") for r in replicas]
    connection = http.client.HTTPConnection(gateway.removeprefix("http://"), timeout=10)
    try:  # the headers alone announce the size: nginx answers before any body is sent
        connection.putrequest("POST", "/v1/segment")
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(limit + 1))
        connection.endheaders()
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    assert response.status == 413
    assert response.getheader("Content-Type") == "application/json"
    assert httpx.Response(413, content=body).json()["error"]["code"] == "too_large"
    assert response.getheader("X-Request-ID")
    assert [requests_counted(r, method="POST") for r in replicas] == before


@pytest.mark.deploy
def test_metrics_stay_inside(gateway: str, replicas: list[str]) -> None:
    response = httpx.get(f"{gateway}/metrics")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert httpx.get(f"{replicas[0]}/metrics").status_code == 200


@pytest.mark.deploy
def test_request_ids_pass_through(gateway: str) -> None:
    given = httpx.get(f"{gateway}/health", headers={"X-Request-ID": "deploy-1"})
    assert given.headers["X-Request-ID"] == "deploy-1"
    made_by_nginx = httpx.get(f"{gateway}/health").headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", made_by_nginx)


@pytest.mark.deploy
def test_examples_are_cached_and_revalidated_like_a_cdn(gateway: str) -> None:
    first = httpx.get(f"{gateway}/v1/examples", headers={"X-Request-ID": "first"})
    second = httpx.get(f"{gateway}/v1/examples", headers={"X-Request-ID": "second"})
    assert first.headers["X-Cache-Status"] == "MISS"
    assert second.headers["X-Cache-Status"] == "HIT"
    assert second.json() == first.json()
    assert second.headers["X-Request-ID"] == "second"  # not the cached answer's
    image_url = gateway + first.json()["examples"][0]["image_url"]
    image = httpx.get(image_url)
    assert image.status_code == 200 and image.headers["Cache-Control"].startswith("public")
    again = httpx.get(image_url, headers={"If-None-Match": image.headers["ETag"]})
    assert again.status_code == 304
    assert again.headers["X-Cache-Status"] == "HIT"


@pytest.mark.deploy
def test_with_no_replica_up_the_gateway_answers_503_with_retry_after(tmp_path: Path) -> None:
    with running_nginx(tmp_path, [f"127.0.0.1:{free_port()}"]) as gateway:  # nobody listens
        answers = [
            httpx.get(f"{gateway}/ready", timeout=10),
            httpx.post(f"{gateway}/v1/segment", json={"prompt": "cat"}, timeout=10),
        ]
    for answer in answers:
        assert answer.status_code == 503
        assert answer.headers["Content-Type"] == "application/json"
        assert answer.headers["Retry-After"] == "5"
        assert answer.headers["X-Request-ID"]
        assert answer.json()["error"]["code"] == "unavailable"


def test_idle_upstream_connections_close_before_the_replicas_close_them() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    upstream = re.search(r"upstream sam3_api \{(.*?)\}", read("nginx/nginx.conf"), re.DOTALL)
    assert upstream is not None
    keepalive_s = int(directive(upstream.group(1), "keepalive_timeout").removesuffix("s"))
    assert keepalive_s < settings.http_keep_alive_s


def test_slow_clients_are_bounded() -> None:
    http_block = read("nginx/nginx.conf")
    for name in ("client_header_timeout", "client_body_timeout", "large_client_header_buffers"):
        assert directive(http_block, name)
    assert int(directive(http_block, "client_header_timeout").removesuffix("s")) <= 15
    assert directive(http_block, "limit_conn").startswith("sam3_per_client ")


SLOW_FROM = "127.0.0.2"  # loopback too, but another client address for limit_conn


def slow_connection(gateway: str, first_bytes: bytes) -> socket.socket:
    """A connection from SLOW_FROM that sends `first_bytes` and then nothing."""
    conn = socket.create_connection(
        tuple(gateway.removeprefix("http://").split(":")),  # type: ignore[arg-type]
        timeout=30,
        source_address=(SLOW_FROM, 0),
    )
    conn.sendall(first_bytes)
    return conn


def closed_by_server(conn: socket.socket) -> bytes:
    """What the server sent before it closed or reset the connection; raises TimeoutError if
    it kept it open for the socket's whole timeout."""
    received = b""
    try:
        while chunk := conn.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    return received


@pytest.mark.deploy
def test_a_slowloris_client_is_cut_off_while_others_are_served(gateway: str) -> None:
    headers_only = b"GET /health HTTP/1.1\r\nHost: sam3\r\nX-Slow: "
    body_started = (
        b"POST /v1/admin/keys HTTP/1.1\r\nHost: sam3\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100\r\n\r\n{"
    )
    slow = [slow_connection(gateway, headers_only) for _ in range(4)]
    slow += [slow_connection(gateway, body_started) for _ in range(40)]
    try:
        for _ in range(10):  # another client is served meanwhile
            assert httpx.get(f"{gateway}/health", timeout=5).status_code == 200
        answers = [closed_by_server(conn) for conn in slow]  # within the sockets' 30 s
    finally:
        for conn in slow:
            conn.close()
    statuses = [answer.split(b" ", 2)[1] if answer else b"closed" for answer in answers]
    # Over 32 requests at once from one address: refused at once; the rest timed out.
    assert statuses.count(b"429") >= 40 - 32, statuses
    assert set(statuses) <= {b"429", b"408", b"closed"}, statuses
