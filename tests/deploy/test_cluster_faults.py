"""Faults in the local cluster (`make cluster`, tiny model) under bounded traffic through nginx:
an API replica killed or stopped, a worker killed mid-task, and RabbitMQ, PostgreSQL and Redis
restarted in turn. The cluster runs on throwaway PostgreSQL, Redis and RabbitMQ servers of its
own (free loopback ports), so that restarting them touches no other test; one cluster serves
the whole module and is stopped at its end."""

from __future__ import annotations

import os
import re
import signal
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.deploy.cluster_tools import (
    Outcome,
    PostgresServer,
    Send,
    Traffic,
    make,
    statuses,
    wait_until,
)
from tests.integration.stack import picture
from tests.servers import RabbitMQNode, RedisServer, free_port

CLIENTS = 100
DONE = ("succeeded", "failed", "cancelled")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.amqp,
    pytest.mark.s3,
    pytest.mark.deploy,
    pytest.mark.timeout(600),
]


@dataclass
class Cluster:
    """The running cluster, its servers, and where to reach each part."""

    env: dict[str, str]
    postgres: PostgresServer
    redis: RedisServer
    rabbitmq: RabbitMQNode

    @property
    def gateway(self) -> str:
        return f"http://127.0.0.1:{self.env['SAM3_CLUSTER_PORT']}"

    @property
    def root(self) -> Path:
        return Path(self.env["SAM3_CLUSTER_DIR"])

    def pid(self, program: str) -> int:
        return statuses(self.env)[program][1]

    def port(self, program: str) -> int:
        conf = (self.root / "supervisord.conf").read_text()
        match = re.search(rf"\[program:{program}\]\ncommand = .* --port (\d+)\n", conf)
        assert match is not None
        return int(match.group(1))

    def log(self, program: str) -> Path:
        return self.root / "logs" / f"{program}.log"

    def settled(self) -> bool:
        """Every program RUNNING and the gateway ready."""
        if {state for state, _ in statuses(self.env).values()} != {"RUNNING"}:
            return False
        return answers(f"{self.gateway}/ready") == 200


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    postgres, redis, rabbitmq = PostgresServer(), RedisServer(), RabbitMQNode()
    env = {
        **os.environ,
        "SAM3_CLUSTER_DIR": str(tmp_path_factory.mktemp("faults") / "cluster"),
        "SAM3_CLUSTER_PORT": str(free_port()),
        "SAM3_CLUSTER_MODEL": "tiny",
        "SAM3_CLUSTER_NAME": "sam3_faults",
        "SAM3_CLUSTER_REDIS_DB": "0",
        "SAM3_CLUSTER_TIMEOUT_S": "300",
        "SAM3_CLUSTER_POSTGRES_URL": postgres.url,
        "SAM3_CLUSTER_REDIS_URL": redis.url.rsplit("/", 1)[0],
        "SAM3_CLUSTER_BROKER_URL": rabbitmq.url,
    }
    try:
        postgres.start()
        redis.start()
        rabbitmq.start()
        started = make("cluster", env, 420)
        assert started.returncode == 0, started.stdout + started.stderr
        yield Cluster(env, postgres, redis, rabbitmq)
    finally:
        make("cluster-down", env, 180)
        rabbitmq.remove()
        redis.stop()
        postgres.remove()


def answers(url: str) -> int:
    """The status of GET `url`, 0 if nothing answers."""
    try:
        return httpx.get(url, timeout=5).status_code
    except httpx.HTTPError:
        return 0


def submit(gateway: str, seed: int) -> str:
    files = {"file": (f"{seed}.png", picture(seed), "image/png")}
    answer = httpx.post(f"{gateway}/v1/tasks", files=files, data={"prompt": "cat"}, timeout=30)
    assert answer.status_code == 202, answer.text
    return str(answer.json()["task_id"])


def task_states(gateway: str, ids: list[str]) -> dict[str, str]:
    with httpx.Client(timeout=10) as client:
        return {
            task_id: client.get(f"{gateway}/v1/tasks/{task_id}").json()["status"] for task_id in ids
        }


def wait_finished(gateway: str, ids: list[str], timeout_s: float) -> dict[str, str]:
    """Each task's last state, once all have ended (or after `timeout_s`)."""
    deadline = time.monotonic() + timeout_s
    while True:
        states = task_states(gateway, ids)
        if all(state in DONE for state in states.values()) or time.monotonic() > deadline:
            return states
        time.sleep(1)


def polling(gateway: str, task_id: str) -> Send:
    """Idempotent work, as most of a real service's traffic: a client polling its task."""

    async def send(client: httpx.AsyncClient, _: int) -> httpx.Response:
        return await client.get(f"{gateway}/v1/tasks/{task_id}")

    return send


def served_by(cluster: Cluster, port: int, offset: int) -> int:
    """Requests answered 200 by the replica on `port`, per nginx's log past `offset`."""
    with cluster.log("nginx").open("rb") as log:
        log.seek(offset)
        text = log.read().decode(errors="replace")
    return len(re.findall(rf'" 200 .*upstream=(?:[\d.:]+, )*127\.0\.0\.1:{port}\b', text))


def stop_replica_under_load(cluster: Cluster, program: str, signum: int) -> list[Outcome]:
    """Send `signum` to `program` while CLIENTS clients poll a task through nginx; the
    outcomes of their requests (bounded: 60 s, 50 requests a client)."""
    task_id = submit(cluster.gateway, seed=1)
    victim = cluster.pid(program)
    with Traffic(polling(cluster.gateway, task_id), CLIENTS, 50, 60) as traffic:
        assert wait_until(lambda: traffic.sent() >= 2 * CLIENTS, 30), "the traffic did not start"
        before = traffic.sent()
        os.kill(victim, signum)
        wait_until(lambda: traffic.sent() >= before + 6 * CLIENTS, 30)
        outcomes = traffic.stop()
    failed = traffic.failed({200})
    report = f"{program} got signal {signum}: {len(outcomes)} requests, {before} before it, "
    print(report + f"{len(failed)} failed: {[(o.status, o.error) for o in failed[:5]]}")  # noqa: T201 (the figures, shown with -s)
    assert len(outcomes) >= before + 2 * CLIENTS, "too few requests after the signal"
    return outcomes


def restarted_and_serving(cluster: Cluster, program: str, old_pid: int, offset: int) -> None:
    """supervisor restarted `program`; it answers /ready and nginx sends it requests again."""

    def running_again() -> bool:
        state, pid = statuses(cluster.env).get(program, ("", 0))
        return state == "RUNNING" and pid not in (0, old_pid)

    assert wait_until(running_again, 60), statuses(cluster.env)
    port = cluster.port(program)
    assert wait_until(lambda: answers(f"http://127.0.0.1:{port}/ready") == 200, 60)

    def takes_traffic() -> bool:
        with httpx.Client(timeout=10) as client:
            codes = [client.get(f"{cluster.gateway}/health").status_code for _ in range(6)]
        assert codes == [200] * 6
        return served_by(cluster, port, offset) > 0

    assert wait_until(takes_traffic, 60), "nginx sent the restarted replica no request"


def test_a_replica_killed_under_100_clients_fails_almost_no_request_and_comes_back(
    cluster: Cluster,
) -> None:
    offset = cluster.log("nginx").stat().st_size
    old_pid = cluster.pid("api-1")
    outcomes = stop_replica_under_load(cluster, "api-1", signal.SIGKILL)
    failed = [o for o in outcomes if o.status != 200]
    assert len(failed) <= 0.005 * len(outcomes)
    restarted_and_serving(cluster, "api-1", old_pid, offset)


def test_a_replica_stopped_under_100_clients_fails_no_request(cluster: Cluster) -> None:
    assert wait_until(cluster.settled, 60)
    offset = cluster.log("nginx").stat().st_size
    old_pid = cluster.pid("api-2")
    outcomes = stop_replica_under_load(cluster, "api-2", signal.SIGTERM)
    assert [o for o in outcomes if o.status != 200] == []
    restarted_and_serving(cluster, "api-2", old_pid, offset)


def submitting(gateway: str, accepted: list[str], first_seed: int) -> Send:
    """A client submitting a new picture each time; the ids of the tasks accepted go to
    `accepted`."""

    async def send(client: httpx.AsyncClient, number: int) -> httpx.Response:
        seed = first_seed + number
        files = {"file": (f"{seed}.png", picture(seed), "image/png")}
        answer = await client.post(f"{gateway}/v1/tasks", files=files, data={"prompt": "cat"})
        if answer.status_code == 202:
            accepted.append(answer.json()["task_id"])
        return answer

    return send


def unfinished(log: Path) -> str | None:
    """The last task a worker received and has not ended, per its log."""
    text = log.read_text(errors="replace")
    received = re.findall(r"Task sam3\.run_job\[(\w+)\] received", text)
    ended = set(re.findall(r"Task sam3\.run_job\[(\w+)\] (?:succeeded|retry|raised)", text))
    pending = [task_id for task_id in received if task_id not in ended]
    return pending[-1] if pending else None


def kill_mid_task(cluster: Cluster, program: str) -> str:
    """Freeze the worker (supervisor runs it in a process group of its own: parent and
    child); kill -9 it if it is then in the middle of a task (received per its log, `running`
    per the API), else let it go on and look again. Returns the task it was running."""
    group = cluster.pid(program)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        os.killpg(group, signal.SIGSTOP)
        task_id = unfinished(cluster.log(program))
        if task_id and task_states(cluster.gateway, [task_id])[task_id] == "running":
            os.killpg(group, signal.SIGKILL)
            return task_id
        os.killpg(group, signal.SIGCONT)
        time.sleep(0.02)
    raise AssertionError(f"{program} was never in the middle of a task")


def test_a_worker_killed_mid_task_under_load_loses_no_task(cluster: Cluster) -> None:
    assert wait_until(cluster.settled, 90)
    accepted: list[str] = []
    with Traffic(submitting(cluster.gateway, accepted, 20_000), 10, 3, 120) as traffic:
        assert wait_until(lambda: len(accepted) >= 10, 60), traffic.failed({202})[:3]
        killed = kill_mid_task(cluster, "worker-1")
        outcomes = traffic.stop()
    assert traffic.failed({202}) == []
    assert len(accepted) == len(outcomes) == 30
    states = wait_finished(cluster.gateway, accepted, 240)
    assert states[killed] == "succeeded"
    assert set(states.values()) == {"succeeded"}, states
    assert wait_until(cluster.settled, 90)  # supervisor restarted the worker


def test_restarting_rabbitmq_postgresql_and_redis_loses_no_accepted_task(
    cluster: Cluster,
) -> None:
    assert wait_until(cluster.settled, 90)
    accepted: list[str] = []
    windows: dict[str, tuple[float, float]] = {}
    servers: list[tuple[str, RabbitMQNode | PostgresServer | RedisServer]] = [
        ("RabbitMQ", cluster.rabbitmq),
        ("PostgreSQL", cluster.postgres),
        ("Redis", cluster.redis),
    ]
    send = submitting(cluster.gateway, accepted, 30_000)
    with Traffic(send, 2, 200, 300, pause_s=0.5) as traffic:
        time.sleep(3)
        for name, server in servers:
            down = time.monotonic()
            server.stop()
            time.sleep(3)
            server.start()
            time.sleep(5)  # the clients' reconnections count with the outage
            windows[name] = (down, time.monotonic())
        outcomes = traffic.stop()
    for name, (start, end) in windows.items():
        during = [o for o in outcomes if start <= o.sent < end]
        failed = Counter(o.status or o.error.split(":")[0] for o in during if o.status != 202)
        figures = f"{len(during)} requests, failed: {dict(failed)}"
        print(f"{name} restarted ({end - start:.0f} s): {figures}")  # noqa: T201
    assert len(accepted) >= 20, "too few tasks accepted"
    states = wait_finished(cluster.gateway, accepted, 300)
    assert Counter(states.values()) == {"succeeded": len(accepted)}
