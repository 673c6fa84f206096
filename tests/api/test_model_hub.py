"""The model hub over HTTP: a hot swap under load, pins, and the routing across a restart."""

from __future__ import annotations

import asyncio
import gc
import time
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from sam3_service.api.app import create_app
from sam3_service.auth import Scope
from sam3_service.runtime import model_host, open_keys
from sam3_service.settings import Settings
from tests.helpers import make_settings, png_bytes, serve_in_thread, wait_ready

CONCURRENT = 50


async def make_keys(settings: Settings) -> tuple[str, str]:
    """An admin key and a user key (with room for the test's requests)."""
    async with open_keys(settings) as keys:
        admin = await keys.create(scope=Scope.ADMIN, rate_per_min=100_000)
        user = await keys.create(scope=Scope.USER, owner="alice", rate_per_min=100_000)
    return admin.secret, user.secret


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def until_json(
    client: httpx.AsyncClient, path: str, check: Any, headers: dict[str, str]
) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        body: dict[str, Any] = (await client.get(path, headers=headers)).json()
        if check(body):
            return body
        assert time.monotonic() < deadline, body
        await asyncio.sleep(0.05)


def version_state(listing: dict[str, Any], version: str) -> str | None:
    return next((v["state"] for v in listing["versions"] if v["version"] == version), None)


async def test_a_hot_swap_under_50_concurrent_requests_fails_none(
    tiny_model_dir: Path, other_tiny_model_dir: Path, tmp_path: Path
) -> None:
    settings = make_settings(tiny_model_dir, tmp_path, auth_enabled=True)
    admin, user = await make_keys(settings)
    host = model_host(settings, str(tiny_model_dir))
    host.start()
    try:
        with serve_in_thread(create_app(settings, models=host)) as url:
            async with httpx.AsyncClient(base_url=url, timeout=120) as client:
                await swap_under_load(client, host, other_tiny_model_dir, admin, user)
    finally:
        host.close()


async def swap_under_load(
    client: httpx.AsyncClient, host: Any, other: Path, admin: str, user: str
) -> None:
    served = await until_json(client, "/v1/models", lambda b: b.get("stable"), bearer(user))
    v1 = served["stable"]
    for method, path in (("GET", "/v1/admin/models"), ("POST", f"/v1/admin/models/{v1}/unload")):
        refused = await client.request(method, path, headers=bearer(user))
        assert refused.status_code == 403  # admin keys only
    engine = weakref.ref(host.engine())
    added = await client.post(
        "/v1/admin/models", json={"source": str(other)}, headers=bearer(admin)
    )
    v2 = added.json()["version"]
    assert added.status_code == 201 and v2 != v1
    loading = await client.post(f"/v1/admin/models/{v2}/load", headers=bearer(admin))
    assert loading.status_code == 202, loading.text
    await until_json(
        client, "/v1/admin/models", lambda b: version_state(b, v2) == "ready", bearer(admin)
    )

    async def one(n: int, *, after_s: float = 0.0) -> httpx.Response:
        await asyncio.sleep(after_s)  # a stream over two seconds: some before, some after
        files = {"file": ("x.png", png_bytes(64 + n, 48), "image/png")}
        return await client.post(
            "/v1/segment", files=files, data={"prompt": "cat"}, headers=bearer(user)
        )

    requests = [asyncio.create_task(one(n, after_s=n * 0.04)) for n in range(CONCURRENT)]
    await asyncio.sleep(0.3)
    promoted = await client.post(f"/v1/admin/models/{v2}/promote", headers=bearer(admin))
    assert promoted.status_code == 200 and promoted.json()["stable"] == v2
    unloaded = await client.post(f"/v1/admin/models/{v1}/unload", headers=bearer(admin))
    assert unloaded.status_code == 200, unloaded.text
    responses = await asyncio.gather(*requests)
    assert [r.status_code for r in responses] == [200] * CONCURRENT
    versions = [r.json()["model"]["version"] for r in responses]
    assert set(versions) == {v1, v2}
    for response in responses:  # the task record names the version that made the result
        task = await client.get(f"/v1/tasks/{response.json()['task_id']}", headers=bearer(user))
        assert task.json()["model_version"] == response.json()["model"]["version"]
    ready = (await client.get("/ready")).json()
    assert ready["versions"] == [v2]
    listing = (await client.get("/v1/admin/models", headers=bearer(admin))).json()
    assert version_state(listing, v1) == "unloaded"
    gc.collect()
    assert engine() is None  # v1's model is freed
    after = await one(CONCURRENT)
    assert after.json()["model"]["version"] == v2


@pytest.fixture
def hub_client(
    tiny_model_dir: Path, tmp_path: Path, shared_host: Any
) -> Iterator[tuple[TestClient, str]]:
    settings = make_settings(tiny_model_dir, tmp_path)
    with TestClient(create_app(settings, models=shared_host)) as client:
        wait_ready(client)
        yield client, shared_host.info.version


def test_a_pin_not_loaded_answers_409_naming_it(hub_client: tuple[TestClient, str]) -> None:
    client, version = hub_client
    files = {"file": ("x.png", png_bytes(96, 64), "image/png")}
    missing = client.post(
        "/v1/segment", files=files, data={"prompt": "cat", "model_version": "v-missing"}
    )
    assert missing.status_code == 409
    assert missing.json()["error"]["code"] == "model_version_unavailable"
    assert "model version v-missing is not loaded" in missing.json()["error"]["message"]
    too_long = client.post("/v1/segment", files=files, data={"model_version": "x" * 65})
    assert too_long.status_code == 422
    pinned = client.post(
        "/v1/segment",
        json={"image": _b64(png_bytes(96, 64)), "prompt": "cat", "model_version": version},
        headers={"X-Client-Id": "client-7"},
    )
    assert pinned.status_code == 200 and pinned.json()["model"]["version"] == version
    bad_client = client.post(
        "/v1/segment", files=files, data={"prompt": "cat"}, headers={"X-Client-Id": "c" * 129}
    )
    assert bad_client.status_code == 422 and "X-Client-Id" in bad_client.json()["error"]["message"]
    assert client.get("/ready").json()["versions"] == [version]


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()


def restart_settings(tiny_model_dir: Path, tmp_path: Path, database_url: str = "") -> Settings:
    return make_settings(tiny_model_dir, tmp_path, auth_enabled=True, database_url=database_url)


@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_routing_and_registry_survive_a_restart(
    database: str,
    request: pytest.FixtureRequest,
    tiny_model_dir: Path,
    other_tiny_model_dir: Path,
    tmp_path: Path,
    shared_host: Any,
) -> None:
    url = request.getfixturevalue("postgres_url") if database == "postgres" else ""
    settings = restart_settings(tiny_model_dir, tmp_path, url)
    admin, _ = asyncio.run(make_keys(settings))
    headers = bearer(admin)
    with TestClient(create_app(settings, models=shared_host)) as client:
        wait_ready(client)
        deadline = time.monotonic() + 60
        while not client.get("/v1/models", headers=headers).json()["stable"]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        v2 = client.post(
            "/v1/admin/models", json={"source": str(other_tiny_model_dir)}, headers=headers
        ).json()["version"]
        assert client.post(f"/v1/admin/models/{v2}/load", headers=headers).status_code == 202
        wait_versions(client, 2)
        routed = client.put(
            "/v1/admin/models/routing",
            json={"canary": v2, "canary_percent": 10},
            headers=headers,
        )
        assert routed.status_code == 200, routed.text
        before = client.get("/v1/admin/models", headers=headers).json()
    with TestClient(create_app(settings, models=shared_host)) as client:
        wait_ready(client)
        wait_versions(client, 2)  # the canary is loaded again at start
        after = client.get("/v1/admin/models", headers=headers).json()
        assert after["routing"] == before["routing"]
        assert {v["version"] for v in after["versions"]} == {
            v["version"] for v in before["versions"]
        }
        served = client.get("/v1/models", headers=headers).json()
        assert {v["version"]: v["traffic_percent"] for v in served["versions"]} == {
            served["stable"]: 90.0,
            v2: 10.0,
        }
        kinds = [event["kind"] for event in after["events"]]
        assert "routed" in kinds and "promoted" in kinds


def wait_versions(client: TestClient, count: int) -> None:
    deadline = time.monotonic() + 60
    while len(client.get("/ready").json()["versions"] or []) < count:
        assert time.monotonic() < deadline, client.get("/ready").json()
        time.sleep(0.05)


def test_bad_admin_input_gets_a_clear_4xx_and_changes_nothing(
    tiny_model_dir: Path, tmp_path: Path, shared_host: Any
) -> None:
    settings = make_settings(tiny_model_dir, tmp_path, auth_enabled=True)
    admin, user = asyncio.run(make_keys(settings))
    with TestClient(create_app(settings, models=shared_host)) as client:
        wait_ready(client)
        stable = shared_host.info.version
        refused = {
            "a missing folder": ("post", "/v1/admin/models", {"source": str(tmp_path / "nope")}),
            "an unknown field": ("post", "/v1/admin/models", {"source": "x", "path": "y"}),
            "an empty source": ("post", "/v1/admin/models", {"source": ""}),
            "an unknown version": ("post", "/v1/admin/models/0123456789ab/load", None),
            "a bad version name": ("post", "/v1/admin/models/a%20b/promote", None),
            "an unregistered canary": ("put", "/v1/admin/models/routing", {"canary": "zz"}),
            "a percentage over 100": ("put", "/v1/admin/models/routing", {"shadow_percent": 101}),
            "a negative weight": ("put", "/v1/admin/models/routing", {"split": [[stable, -1]]}),
            "the stable version's unload": ("post", f"/v1/admin/models/{stable}/unload", None),
        }
        deadline = time.monotonic() + 60
        while (before := client.get("/v1/admin/models", headers=bearer(admin)).json())["routing"][
            "stable"
        ] != stable:  # the starting model registers itself once loaded
            assert time.monotonic() < deadline, before
            time.sleep(0.05)
        for what, (method, path, body) in refused.items():
            answer = client.request(method, path, json=body, headers=bearer(admin))
            assert 400 <= answer.status_code < 500, (what, answer.status_code, answer.text)
            assert answer.json()["error"]["message"], what
        assert client.post("/v1/admin/models", json={"source": "x"}).status_code == 401
        as_user = client.get("/v1/admin/models", headers=bearer(user))
        assert as_user.status_code == 403
        after = client.get("/v1/admin/models", headers=bearer(admin)).json()
        assert after["routing"] == before["routing"]
        assert [v["version"] for v in after["versions"]] == [stable]
        files = {"file": ("x.png", png_bytes(96, 64), "image/png")}
        served = client.post(
            "/v1/segment", files=files, data={"prompt": "cat"}, headers=bearer(user)
        )
        assert served.status_code == 200 and served.json()["model"]["version"] == stable
