"""With SAM3_AUTH_ENABLED: API keys, scopes, per-key rate limits, and who sees which task."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from sam3_service.api.app import create_app
from sam3_service.auth import Scope
from sam3_service.domain.models import ModelHost
from sam3_service.runtime import open_keys
from sam3_service.settings import Settings
from tests.helpers import TEST_LINK_SECRET, make_settings, png_bytes
from tests.servers import RedisServer, free_port

SERVER_START_S = 90


@pytest.fixture(scope="module")
def secure(
    tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory, shared_host: ModelHost
) -> Iterator[TestClient]:
    """An app with authentication on (keys in SQLite, the in-process rate limiter)."""
    data_dir = tmp_path_factory.mktemp("secure")
    settings = make_settings(tiny_model_dir, data_dir, auth_enabled=True)
    with TestClient(create_app(settings, models=shared_host)) as client:
        yield client


def new_key(client: TestClient, scope: Scope = Scope.USER, **fields: object) -> str:
    """Make a key in the app's own key store; returns the secret."""
    keys = client.app_state["services"].keys
    return client.portal.call(partial(keys.create, scope=scope, **fields)).secret


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def segment(client: TestClient, secret: str) -> str:
    """Segment a picture as the key's owner; returns the task id."""
    files = {"file": ("x.png", png_bytes(96, 64), "image/png")}
    response = client.post(
        "/v1/segment", files=files, data={"prompt": "cat"}, headers=bearer(secret)
    )
    assert response.status_code == 200, response.text
    return str(response.json()["task_id"])


def is_public(path: str) -> bool:
    return path in ("/health", "/ready", "/metrics") or path.startswith(
        ("/v1/shared/", "/v1/examples")
    )


def test_without_a_key_only_the_public_routes_answer(secure: TestClient) -> None:
    protected = []
    for path, operations in secure.get("/openapi.json").json()["paths"].items():
        concrete = path.replace("{", "").replace(
            "}", ""
        )  # /v1/tasks/{task_id} -> /v1/tasks/task_id
        for method in operations:
            response = secure.request(method, concrete)
            if is_public(path):
                assert response.status_code != 401, (method, path)
            else:
                assert response.status_code == 401, (method, path, response.text)
                assert response.json()["error"]["code"] == "unauthorized"
                protected.append(f"{method.upper()} {path}")
    assert {"POST /v1/segment", "GET /v1/tasks/{task_id}", "GET /v1/admin/keys"} <= set(protected)
    assert "POST /v1/tasks/{task_id}/share" in protected


@pytest.mark.parametrize(
    "path", ["/", "/index.html", "/style.css", "/docs", "/openapi.json", "/health", "/ready"]
)
def test_the_page_the_docs_and_the_probes_need_no_key(secure: TestClient, path: str) -> None:
    assert secure.get(path).status_code == 200


def test_the_error_says_how_to_send_a_key(secure: TestClient) -> None:
    body = secure.get("/v1/tasks").json()
    assert "Authorization: Bearer" in body["error"]["message"]
    assert "X-API-Key" in body["error"]["message"]


def test_a_key_is_accepted_as_bearer_or_x_api_key(secure: TestClient) -> None:
    secret = new_key(secure)
    assert secure.get("/v1/tasks", headers=bearer(secret)).status_code == 200
    assert secure.get("/v1/tasks", headers={"X-API-Key": secret}).status_code == 200


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"Authorization": "Bearer sam3_not-a-key"}, "unknown API key"),
        ({"X-API-Key": "hello"}, "keys start with `sam3_`"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "needs an API key"),
    ],
)
def test_unknown_or_malformed_keys_are_401(
    secure: TestClient, headers: dict[str, str], message: str
) -> None:
    response = secure.get("/v1/tasks", headers=headers)
    assert response.status_code == 401
    assert message in response.json()["error"]["message"]


def test_a_revoked_key_is_401_and_says_so(secure: TestClient) -> None:
    admin = new_key(secure, Scope.ADMIN)
    made = secure.post("/v1/admin/keys", json={"owner": "dave"}, headers=bearer(admin)).json()
    assert secure.get("/v1/tasks", headers=bearer(made["key"])).status_code == 200
    revoked = secure.delete(f"/v1/admin/keys/{made['id']}", headers=bearer(admin))
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    response = secure.get("/v1/tasks", headers=bearer(made["key"]))
    assert response.status_code == 401
    assert "revoked" in response.json()["error"]["message"]


def test_a_user_key_cannot_reach_admin_routes(secure: TestClient) -> None:
    headers = bearer(new_key(secure))
    for response in (
        secure.get("/v1/admin/keys", headers=headers),
        secure.post("/v1/admin/keys", json={"scope": "admin"}, headers=headers),
        secure.delete("/v1/admin/keys/anything", headers=headers),
    ):
        assert response.status_code == 403
        assert response.json()["error"] == {
            "code": "forbidden",
            "message": "this route needs an admin key; this key's scope is `user`",
        }


def test_an_admin_makes_lists_and_revokes_keys(secure: TestClient) -> None:
    headers = bearer(new_key(secure, Scope.ADMIN, owner="root"))
    body = {"scope": "user", "owner": "erin", "rate_per_min": 5}
    made = secure.post("/v1/admin/keys", json=body, headers=headers)
    assert made.status_code == 201
    created = made.json()
    assert created["key"].startswith("sam3_")
    assert (created["owner"], created["scope"], created["rate_per_min"]) == ("erin", "user", 5)

    listed = secure.get("/v1/admin/keys", headers=headers).json()["keys"]
    assert created["id"] in [key["id"] for key in listed]
    assert all("key" not in key for key in listed)  # secrets are never listed

    assert secure.delete(f"/v1/admin/keys/{created['id']}", headers=headers).status_code == 200
    ids = [key["id"] for key in secure.get("/v1/admin/keys", headers=headers).json()["keys"]]
    assert created["id"] not in ids
    everything = secure.get("/v1/admin/keys?include_revoked=true", headers=headers).json()
    assert created["id"] in [key["id"] for key in everything["keys"]]
    assert secure.delete("/v1/admin/keys/nope", headers=headers).status_code == 404


@pytest.mark.parametrize("body", [{"rate_per_min": 0}, {"scope": "root"}, {"colour": "red"}])
def test_a_bad_key_request_is_422(secure: TestClient, body: dict[str, object]) -> None:
    headers = bearer(new_key(secure, Scope.ADMIN))
    assert secure.post("/v1/admin/keys", json=body, headers=headers).status_code == 422


def test_a_user_sees_only_their_own_tasks_and_an_admin_sees_all(secure: TestClient) -> None:
    alice, alice_again = new_key(secure, owner="alice"), new_key(secure, owner="alice")
    bob, admin = new_key(secure, owner="bob"), new_key(secure, Scope.ADMIN)
    task_id = segment(secure, alice)

    for path in (f"/v1/tasks/{task_id}", f"/result/{task_id}", f"/v1/tasks/{task_id}/result.json"):
        assert secure.get(path, headers=bearer(bob)).status_code == 404, path
        assert secure.get(path, headers=bearer(alice_again)).status_code == 200, path
        assert secure.get(path, headers=bearer(admin)).status_code == 200, path
    assert secure.delete(f"/v1/tasks/{task_id}", headers=bearer(bob)).status_code == 404
    assert secure.post(f"/v1/tasks/{task_id}/share", headers=bearer(bob)).status_code == 404

    def listed(secret: str) -> list[str]:
        tasks = secure.get("/v1/tasks?limit=500", headers=bearer(secret)).json()["tasks"]
        return [task["task_id"] for task in tasks]

    assert task_id in listed(alice) and task_id in listed(admin)
    assert task_id not in listed(bob)


def test_a_share_link_opens_without_a_key(secure: TestClient) -> None:
    owner = new_key(secure)
    task_id = segment(secure, owner)
    share = secure.post(f"/v1/tasks/{task_id}/share", headers=bearer(owner)).json()
    assert secure.get(share["api_url"]).json()["task_id"] == task_id


def test_over_its_rate_a_key_gets_429_with_retry_after(secure: TestClient) -> None:
    headers = bearer(new_key(secure, rate_per_min=3))
    assert [secure.get("/v1/tasks", headers=headers).status_code for _ in range(3)] == [200] * 3
    response = secure.get("/v1/tasks", headers=headers)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "20"
    assert response.headers["x-request-id"]
    error = response.json()["error"]
    assert (error["code"], error["retry_after"]) == ("rate_limited", 20)
    assert "3 requests per minute" in error["message"]
    other = bearer(new_key(secure, rate_per_min=3))
    assert secure.get("/v1/tasks", headers=other).status_code == 200  # each key has its own


def test_with_auth_off_admin_routes_are_forbidden(client: TestClient) -> None:
    response = client.get("/v1/admin/keys")
    assert response.status_code == 403
    assert "SAM3_AUTH_ENABLED" in response.json()["error"]["message"]
    assert client.get("/v1/tasks").status_code == 200


# Two real API processes sharing one Redis


def make_key(settings: Settings, rate_per_min: int) -> str:
    async def create() -> str:
        async with open_keys(settings) as keys:
            return (await keys.create(scope=Scope.USER, rate_per_min=rate_per_min)).secret

    return asyncio.run(create())


def start_api(port: int, env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "uvicorn", "--factory", "sam3_service.api.app:create_app"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    return subprocess.Popen(
        command,
        env={**os.environ, **env},
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def wait_healthy(base_url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            stderr = process.stderr.read().decode() if process.stderr else ""
            pytest.fail(f"the API on {base_url} exited ({process.returncode}):\n{stderr[-2000:]}")
        try:
            if httpx.get(f"{base_url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"the API on {base_url} did not answer within {SERVER_START_S} s")


@pytest.mark.redis
@pytest.mark.slow
def test_rate_limits_hold_across_two_api_processes(tmp_path: Path) -> None:
    redis_server = RedisServer()
    redis_server.start()
    env = {
        "SAM3_AUTH_ENABLED": "true",
        "SAM3_LINK_SECRET": TEST_LINK_SECRET,
        "SAM3_REDIS_URL": redis_server.url,
        "SAM3_DATA_DIR": str(tmp_path),
        "SAM3_MODEL": str(tmp_path / "no-model"),  # fails to load at once: /v1/tasks needs none
        "SAM3_DEVICE": "cpu",
    }
    secret = make_key(Settings(_env_file=None, data_dir=tmp_path), rate_per_min=4)  # type: ignore[call-arg]
    ports = [free_port(), free_port()]
    processes = [start_api(port, env, tmp_path) for port in ports]
    try:
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        for url, process in zip(urls, processes, strict=True):
            wait_healthy(url, process)
        responses = [
            httpx.get(f"{urls[i % 2]}/v1/tasks", headers=bearer(secret), timeout=10)
            for i in range(8)
        ]
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=20)
        redis_server.stop()
    assert [r.status_code for r in responses] == [200] * 4 + [429] * 4
    assert all(int(r.headers["retry-after"]) >= 1 for r in responses[4:])
    assert all(r.headers["x-request-id"] for r in responses)
