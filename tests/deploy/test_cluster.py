"""`make cluster`, `make cluster-status` and `make cluster-down` (deploy/cluster/): the whole
local cluster under supervisor with the tiny model, on loopback, in a folder of the test's own."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import redis

from tests.servers import delete_queues, free_port, fresh_database

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(sys.executable).parent.parent
EXAMPLE = ROOT / "src" / "sam3_service" / "web" / "examples" / "chelsea.png"
PROGRAMS = {"api-1", "api-2", "api-3", "worker-1", "worker-2", "nginx", "s3"}
STATUS_LINE = re.compile(r"^(\S+)\s+(\S+)\s+pid (\d+), uptime \d+:\d\d:\d\d$")
CLIENTS = 8
REDIS_DB = 12  # the tests' own Redis database for the cluster's worker reports

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.amqp,
    pytest.mark.s3,
    pytest.mark.deploy,
    pytest.mark.timeout(480),
]


def make(target: str, env: dict[str, str], timeout_s: float) -> subprocess.CompletedProcess[str]:
    """`make TARGET` with this test's interpreter's environment (never reinstalled: -o)."""
    command = ["make", "--no-print-directory", "-o", f"{VENV}/.installed", f"VENV={VENV}", target]
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout_s
    )


def statuses(env: dict[str, str]) -> dict[str, tuple[str, int]]:
    """supervisor's status lines, by program: (state, pid)."""
    lines = make("cluster-status", env, 30).stdout.splitlines()
    found = {}
    for line in lines:
        match = STATUS_LINE.match(line.strip())
        if match:
            found[match.group(1)] = (match.group(2), int(match.group(3)))
    return found


def alive(pid: int) -> bool:
    """True while `pid` is a process that has not exited (a zombie has)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def started_from(folder: str) -> list[int]:
    """The live processes whose environment names this cluster folder: all it started."""
    marker = f"SAM3_CLUSTER_DIR={folder}".encode()
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if marker in (proc / "environ").read_bytes().split(b"\0") and alive(int(proc.name)):
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def health_answers(gateway: str, count: int) -> list[int]:
    """The statuses of `count` GET /health through the gateway, one after another."""
    with httpx.Client(timeout=10) as client:
        return [client.get(f"{gateway}/health").status_code for _ in range(count)]


def segment(gateway: str) -> httpx.Response:
    with EXAMPLE.open("rb") as image:
        files = {"file": ("chelsea.png", image, "image/png")}
        return httpx.post(f"{gateway}/v1/segment", files=files, data={"prompt": "cat"}, timeout=60)


@pytest.fixture
def cluster_env(
    tmp_path: Path, postgres_admin_url: str, redis_url: str, amqp_url: str
) -> Iterator[dict[str, str]]:
    """The cluster's settings: its own folder, port, database, queue, bucket and Redis db."""
    with fresh_database(postgres_admin_url, "sam3_cluster_test") as database:
        name = database.rsplit("/", 1)[1]
        env = {
            **os.environ,
            "SAM3_CLUSTER_DIR": str(tmp_path / "cluster"),
            "SAM3_CLUSTER_PORT": str(free_port()),
            "SAM3_CLUSTER_MODEL": "tiny",
            "SAM3_CLUSTER_NAME": name,
            "SAM3_CLUSTER_REDIS_DB": str(REDIS_DB),
            "SAM3_CLUSTER_TIMEOUT_S": "240",
        }
        try:
            yield env
        finally:
            make("cluster-down", env, 180)
            delete_queues(amqp_url, f"{name}.tasks")
            client = redis.Redis.from_url(redis_url.rsplit("/", 1)[0] + f"/{REDIS_DB}")
            client.flushdb()
            client.close()


def api_port(env: dict[str, str], program: str) -> int:
    conf = (Path(env["SAM3_CLUSTER_DIR"]) / "supervisord.conf").read_text()
    match = re.search(rf"\[program:{program}\]\ncommand = .* --port (\d+)\n", conf)
    assert match is not None
    return int(match.group(1))


def wait_until(check: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.5)
    return False


def health(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_the_cluster_starts_serves_survives_a_killed_replica_and_stops(
    cluster_env: dict[str, str],
) -> None:
    started = make("cluster", cluster_env, 300)
    assert started.returncode == 0, started.stdout + started.stderr
    gateway = f"http://127.0.0.1:{cluster_env['SAM3_CLUSTER_PORT']}"
    assert f"Ready: {gateway}" in started.stdout
    assert httpx.get(f"{gateway}/ready", timeout=5).status_code == 200

    answer = segment(gateway)
    assert answer.status_code == 200, answer.text
    assert answer.json()["image"]["width"] == 451

    before = statuses(cluster_env)
    assert set(before) == PROGRAMS
    assert {state for state, _ in before.values()} == {"RUNNING"}

    with ThreadPoolExecutor(CLIENTS) as pool:  # clients keep asking while api-1 is killed
        probes = [pool.submit(health_answers, gateway, 40) for _ in range(CLIENTS)]
        time.sleep(0.5)
        os.kill(before["api-1"][1], signal.SIGKILL)
        answers = [probe.result() for probe in probes]
    assert [code for codes in answers for code in codes] == [200] * 40 * CLIENTS  # retried
    with ThreadPoolExecutor(4) as pool:  # the other replicas take the work
        segmented = list(pool.map(lambda _: segment(gateway), range(12)))
    assert [a.status_code for a in segmented] == [200] * 12

    def restarted() -> bool:
        state, pid = statuses(cluster_env).get("api-1", ("", 0))
        return state == "RUNNING" and pid != before["api-1"][1]

    assert wait_until(restarted, 30), statuses(cluster_env)
    assert wait_until(lambda: health(api_port(cluster_env, "api-1")), 30)
    supervisord = int((Path(cluster_env["SAM3_CLUSTER_DIR"]) / "supervisord.pid").read_text())
    pids = [pid for _, pid in statuses(cluster_env).values()] + [supervisord]
    assert len(started_from(cluster_env["SAM3_CLUSTER_DIR"])) > len(pids)  # workers' children

    stopped = make("cluster-down", cluster_env, 180)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert [pid for pid in pids if alive(pid)] == []
    assert started_from(cluster_env["SAM3_CLUSTER_DIR"]) == []
    assert not health(int(cluster_env["SAM3_CLUSTER_PORT"]))
    assert "No cluster runs" in make("cluster-status", cluster_env, 30).stdout
