"""The isolation matrix: two owners, every route and verb that takes an id a client can name.

Built from the app's own OpenAPI document: a route added later fails
`test_every_route_is_in_the_matrix` until it gets a case here. For each case, bob names alice's
id and then an id that never existed; both answers must be the same (status and message, the
id itself aside). Runs on the embedded backends and on PostgreSQL with Redis.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from sam3_service.api.app import create_app
from sam3_service.auth import Scope
from sam3_service.domain.models import ModelHost
from sam3_service.domain.sharing import sign
from tests.helpers import make_settings, png_bytes
from tests.servers import fresh_database

NEVER = "never-existed-0001"
# Routes that take no id an owner could reach another's data through, and why.
NO_OWNER_ID = {
    "GET /health": "probe",
    "GET /ready": "probe",
    "GET /metrics": "counters only",
    "GET /v1/examples": "the public catalogue",
    "GET /v1/examples/{name}/image": "public pictures, the same for everyone",
    "GET /v1/examples/{name}/result": "public results, the same for everyone",
    "GET /v1/tasks": "lists the caller's own tasks (test_a_list_shows_only_ones_own)",
    "GET /v1/admin/keys": "admin only (a user key gets 403)",
    "POST /v1/admin/keys": "admin only (a user key gets 403)",
    "GET /v1/models": "the versions served, the same for everyone",
    **{
        route: "admin only (a user key gets 403): model versions"
        for route in (
            "GET /v1/admin/models",
            "POST /v1/admin/models",
            "POST /v1/admin/models/{version}/load",
            "POST /v1/admin/models/{version}/unload",
            "POST /v1/admin/models/{version}/promote",
            "POST /v1/admin/models/{version}/rollback",
            "PUT /v1/admin/models/routing",
        )
    },
}
# Routes whose body names ids (image_id, task_id): tested by their own tests below.
BODY_IDS = {"POST /v1/segment", "POST /v1/tasks"}


@dataclass
class World:
    client: TestClient
    alice_owner: str
    alice: dict[str, str]
    bob: dict[str, str]
    alice_task: str  # a task id the service chose
    alice_named: str  # alice's own client task id
    alice_image: str  # the sha256 of alice's upload
    alice_key_id: str


def headers(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def new_key(client: TestClient, owner: str, scope: Scope = Scope.USER) -> tuple[str, str]:
    keys = client.app_state["services"].keys
    create = partial(keys.create, scope=scope, owner=owner, rate_per_min=100_000)
    made = client.portal.call(create)
    return made.secret, made.key.id


@pytest.fixture(
    scope="module",
    params=[
        "embedded",
        pytest.param("production", marks=[pytest.mark.postgres, pytest.mark.redis]),
    ],
)
def world(
    request: pytest.FixtureRequest,
    tiny_model_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
    shared_host: ModelHost,
) -> Iterator[World]:
    data_dir = tmp_path_factory.mktemp("isolation")
    if request.param == "embedded":
        with _world(make_settings(tiny_model_dir, data_dir, auth_enabled=True), shared_host) as w:
            yield w
        return
    admin_url = request.getfixturevalue("postgres_admin_url")
    redis_url = request.getfixturevalue("redis_url")
    with fresh_database(admin_url, "sam3_isolation") as database_url:
        settings = make_settings(
            tiny_model_dir,
            data_dir,
            auth_enabled=True,
            database_url=database_url,
            redis_url=redis_url,
        )
        with _world(settings, shared_host) as w:
            yield w


@pytest.fixture(scope="module")
def client(world: World) -> TestClient:
    return world.client


class _world:
    """Alice's task (one with her own id), her upload and her key; bob's key."""

    def __init__(self, settings: Any, host: ModelHost) -> None:
        self.test_client = TestClient(create_app(settings, models=host))

    def __enter__(self) -> World:
        client = self.test_client.__enter__()
        run = uuid.uuid4().hex[:8]  # owners of their own: the engine's caches outlive the app
        alice, alice_key_id = new_key(client, f"alice-{run}")
        bob, _ = new_key(client, f"bob-{run}")
        picture = png_bytes(97, 61)
        files = {"file": ("a.png", picture, "image/png")}
        made = client.post(
            "/v1/segment", files=files, data={"prompt": "cat"}, headers=headers(alice)
        )
        assert made.status_code == 200, made.text
        named = client.post(
            "/v1/segment",
            files=files,
            data={"prompt": "dog", "task_id": "shared-name-0001"},
            headers=headers(alice),
        )
        assert named.status_code == 200, named.text
        return World(
            client=client,
            alice_owner=f"alice-{run}",
            alice=headers(alice),
            bob=headers(bob),
            alice_task=made.json()["task_id"],
            alice_named="shared-name-0001",
            alice_image=hashlib.sha256(picture).hexdigest(),
            alice_key_id=alice_key_id,
        )

    def __exit__(self, *exc: object) -> None:
        self.test_client.__exit__(*exc)


def routes(client: TestClient) -> dict[str, str]:
    """Every `METHOD /path` of the app, with the path template."""
    paths = client.get("/openapi.json").json()["paths"]
    return {f"{m.upper()} {path}": path for path, ops in paths.items() for m in ops}


def answer(response: httpx.Response, name: str) -> tuple[int, Any]:
    """What a client learns from an answer, with the id it named blanked out."""
    body = response.text.replace(name, "<id>")
    return response.status_code, body


def ask(world: World, route: str, value: str, who: dict[str, str]) -> httpx.Response:
    method, template = route.split(" ", 1)
    path = template.replace("{task_id}", value).replace("{key_id}", value)
    path = path.replace("{token}", value)
    body = {} if method == "POST" else None
    return world.client.request(method, path, headers=who, json=body)


def task_routes(client: TestClient) -> list[str]:
    return sorted(r for r, path in routes(client).items() if "{task_id}" in path)


def test_every_route_is_in_the_matrix(client: TestClient) -> None:
    uncovered = [
        route
        for route, path in routes(client).items()
        if route not in NO_OWNER_ID
        and route not in BODY_IDS
        and not any(name in path for name in ("{task_id}", "{token}", "{key_id}"))
    ]
    assert uncovered == [], "give these routes a case in the isolation matrix"
    assert len(task_routes(client)) >= 10


@pytest.mark.parametrize("which", ["alice_task", "alice_named"])
def test_another_owners_task_answers_like_none(world: World, which: str) -> None:
    theirs = getattr(world, which)
    for route in task_routes(world.client):
        own = ask(world, route, theirs, world.alice)
        assert own.status_code not in (401, 403, 404), (route, own.text)
        for never in (NEVER, uuid.uuid4().hex):
            other, missing = (
                ask(world, route, theirs, world.bob),
                ask(world, route, never, world.bob),
            )
            assert other.status_code == 404, (route, other.text)
            assert answer(other, theirs) == answer(missing, never), route


def test_the_same_client_id_from_two_owners_makes_two_tasks(world: World) -> None:
    files = {"file": ("b.png", png_bytes(50, 40), "image/png")}
    data = {"prompt": "person", "task_id": world.alice_named}
    mine = world.client.post("/v1/tasks", files=files, data=data, headers=world.bob)
    assert mine.status_code == 202, mine.text
    assert mine.json()["task_id"] == world.alice_named
    bobs = world.client.get(f"/v1/tasks/{world.alice_named}", headers=world.bob).json()
    alices = world.client.get(f"/v1/tasks/{world.alice_named}", headers=world.alice).json()
    assert alices["status"] == "succeeded" and alices["result"]["prompt"]["prompt"] == "dog"
    assert bobs["created_at"] != alices["created_at"]
    again = world.client.post("/v1/tasks", files=files, data=data, headers=world.bob)
    assert again.json()["created_at"] == mine.json()["created_at"]  # idempotent within bob


def test_another_owners_image_id_answers_like_an_unknown_one(world: World) -> None:
    unknown = hashlib.sha256(b"never uploaded").hexdigest()
    for path in ("/v1/segment", "/v1/tasks"):
        answers = [
            world.client.post(path, json={"image_id": image_id, "prompt": "cat"}, headers=world.bob)
            for image_id in (world.alice_image, unknown)
        ]
        assert answers[0].status_code == 404, answers[0].text
        assert answer(answers[0], world.alice_image) == answer(answers[1], unknown)
    own = world.client.post(
        "/v1/segment", json={"image_id": world.alice_image, "prompt": "cat"}, headers=world.alice
    )
    assert own.status_code == 200, own.text


def test_no_cache_tells_one_owner_of_anothers_upload(world: World) -> None:
    picture = png_bytes(83, 71)
    files = {"file": ("c.png", picture, "image/png")}
    first = world.client.post(
        "/v1/segment", files=files, data={"prompt": "cat"}, headers=world.alice
    ).json()
    repeat = world.client.post(
        "/v1/segment", files=files, data={"prompt": "cat"}, headers=world.alice
    ).json()
    assert repeat["timings_ms"] == first["timings_ms"]  # alice's own result cache answers
    other = world.client.post(
        "/v1/segment", files=files, data={"prompt": "cat"}, headers=world.bob
    ).json()
    assert other["vision_cache_hit"] is False
    assert other["timings_ms"] != first["timings_ms"]
    again = world.client.post(
        "/v1/segment", files=files, data={"prompt": "dog"}, headers=world.bob
    ).json()
    assert again["vision_cache_hit"] is True  # bob's own upload now is cached for bob


def test_a_list_shows_only_ones_own(world: World) -> None:
    listed = world.client.get("/v1/tasks?limit=500", headers=world.bob).json()["tasks"]
    created = world.client.get(f"/v1/tasks/{world.alice_task}", headers=world.alice).json()
    assert created["created_at"] not in {task["created_at"] for task in listed}
    assert world.alice_task not in {task["task_id"] for task in listed}


def share(world: World, task_id: str, who: dict[str, str]) -> str:
    made = world.client.post(f"/v1/tasks/{task_id}/share", headers=who, json={})
    assert made.status_code == 200, made.text
    return str(made.json()["token"])


def test_a_withdrawn_share_answers_like_a_link_never_made(world: World) -> None:
    token = share(world, world.alice_task, world.alice)
    assert world.client.get(f"/v1/shared/{token}").status_code == 200
    assert (
        world.client.delete(f"/v1/tasks/{world.alice_task}/share", headers=world.bob).status_code
        == 404
    )
    assert world.client.get(f"/v1/shared/{token}").status_code == 200  # bob withdrew nothing
    withdrawn = world.client.delete(f"/v1/tasks/{world.alice_task}/share", headers=world.alice)
    assert withdrawn.status_code == 200 and withdrawn.json()["withdrawn"] >= 1
    secret = world.client.app_state["services"].share_secret
    never = sign(secret, "bmV2ZXItbWFkZS1zaGFyZQ", int(token.split(".")[1]))
    shared_paths = [path for path in routes(world.client).values() if "{token}" in path]
    assert len(shared_paths) >= 6
    for path in shared_paths:
        gone = world.client.get(path.replace("{token}", token))
        made_up = world.client.get(path.replace("{token}", never))
        assert gone.status_code == 403, (path, gone.text)
        assert answer(gone, token) == answer(made_up, never), path


def test_a_share_stops_when_the_key_that_made_it_is_revoked(world: World) -> None:
    secret, key_id = new_key(world.client, world.alice_owner)
    token = share(world, world.alice_task, headers(secret))
    assert world.client.get(f"/v1/shared/{token}").status_code == 200
    keys = world.client.app_state["services"].keys
    world.client.portal.call(keys.revoke, key_id)
    refused = world.client.get(f"/v1/shared/{token}")
    assert refused.status_code == 403
    assert refused.json()["error"]["message"] == "this share link is not valid"
    assert "revoked" not in refused.text


def test_a_key_id_reaches_no_key_for_a_user(world: World) -> None:
    for route in [r for r, path in routes(world.client).items() if "{key_id}" in path]:
        theirs = ask(world, route, world.alice_key_id, world.bob)
        missing = ask(world, route, NEVER, world.bob)
        assert theirs.status_code == 403
        assert answer(theirs, world.alice_key_id) == answer(missing, NEVER), route
