"""`sam3-service serve` stops gracefully: on SIGTERM it turns not-ready, serves what it has
been sent, and exits by itself."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.helpers import png_bytes
from tests.servers import free_port

CLIENTS = 8
MAX_REQUESTS_PER_CLIENT = 25
START_S = 120
EXIT_S = 60


@pytest.mark.slow
def test_sigterm_under_load_fails_no_request(tiny_model_dir: Path, tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "SAM3_MODEL": str(tiny_model_dir),
        "SAM3_DEVICE": "cpu",
        "SAM3_DATA_DIR": str(tmp_path),
        "SAM3_PORT": str(port),
        "SAM3_LOG_FORMAT": "text",
        "SAM3_SHUTDOWN_DRAIN_S": "1",
    }
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "sam3_service", "serve"], env=env, stdout=log, stderr=log
    )
    try:
        _wait_ready(base, server)
        balancer_stopped = threading.Event()  # the balancer sends nothing more once set
        picture = png_bytes(640, 480)

        def client() -> list[tuple[int, float]]:
            """The status of each request and when it ended."""
            answers: list[tuple[int, float]] = []
            with httpx.Client(base_url=base, timeout=60) as http:
                while not balancer_stopped.is_set() and len(answers) < MAX_REQUESTS_PER_CLIENT:
                    files = {"file": ("x.png", picture, "image/png")}
                    response = http.post("/v1/segment", files=files, data={"prompt": "cat"})
                    answers.append((response.status_code, time.monotonic()))
            return answers

        with ThreadPoolExecutor(CLIENTS) as pool:
            clients = [pool.submit(client) for _ in range(CLIENTS)]
            time.sleep(1.0)  # every client has a request in flight
            server.send_signal(signal.SIGTERM)
            signalled_at = time.monotonic()
            stopping = httpx.get(f"{base}/ready", timeout=10)
            balancer_stopped.set()
            answers = [answer for done in clients for answer in done.result()]
        returncode = server.wait(timeout=EXIT_S)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(timeout=10)
        log.close()
    output = (tmp_path / "serve.log").read_text(errors="replace")[-3000:]
    assert stopping.status_code == 503 and stopping.json()["status"] == "stopping", output
    assert [status for status, _ in answers if status != 200] == [], output
    assert any(at > signalled_at for _, at in answers), "no request was in flight at SIGTERM"
    assert returncode in (0, -signal.SIGTERM), output


def _wait_ready(base: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        assert server.poll() is None, "sam3-service serve exited"
        try:
            if httpx.get(f"{base}/ready", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"sam3-service serve was not ready within {START_S} s")
