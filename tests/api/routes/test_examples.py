"""/v1/examples: the sample pictures and their results, cacheable by a CDN."""

from __future__ import annotations

import hashlib

import pytest
from fastapi.testclient import TestClient

from sam3_service.domain import examples
from sam3_service.domain.examples import EXAMPLES_OWNER


def test_list_names_every_example_with_its_credit(client: TestClient) -> None:
    response = client.get("/v1/examples")
    assert response.status_code == 200
    assert response.headers["cache-control"].startswith("public")
    listed = response.json()["examples"]
    assert [e["name"] for e in listed] == [e.name for e in examples.CATALOGUE]
    for entry in listed:
        assert entry["credit"] and entry["licence"] and entry["prompt"]
        assert entry["image_url"] == f"/v1/examples/{entry['name']}/image"


@pytest.mark.parametrize("name", [e.name for e in examples.CATALOGUE])
def test_image_is_served_with_a_content_etag(client: TestClient, name: str) -> None:
    response = client.get(f"/v1/examples/{name}/image")
    assert response.status_code == 200
    assert response.headers["content-type"] in ("image/png", "image/jpeg")
    assert response.headers["etag"] == f'"{hashlib.sha256(response.content).hexdigest()}"'
    assert "max-age=" in response.headers["cache-control"]


def test_image_answers_304_to_a_matching_etag(client: TestClient) -> None:
    etag = client.get("/v1/examples/cat/image").headers["etag"]
    again = client.get("/v1/examples/cat/image", headers={"If-None-Match": f'"other", W/{etag}'})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    changed = client.get("/v1/examples/cat/image", headers={"If-None-Match": '"other"'})
    assert changed.status_code == 200


def test_result_is_a_real_segmentation_then_cached(client: TestClient) -> None:
    first = client.get("/v1/examples/coffee/result")
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["prompt"]["prompt"] == "cup"
    assert body["image"]["width"] == 600 and body["image"]["height"] == 400
    assert body["model"]["random"] is True and "warning" in body
    assert "links" not in body and "task_id" not in body, "no task-specific fields in a shared file"
    assert all(obj["score"] >= examples.SCORE_FLOOR for obj in body["objects"])
    second = client.get("/v1/examples/coffee/result")
    assert second.json()["objects"] == body["objects"]
    assert second.headers["etag"] == first.headers["etag"]
    assert "public" in first.headers["cache-control"]


def test_result_answers_304_without_segmenting(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    etag = client.get("/v1/examples/rocket/result").headers["etag"]

    async def must_not_run(*args: object) -> None:
        raise AssertionError("a 304 must not segment")

    monkeypatch.setattr(examples, "compute_result", must_not_run)
    again = client.get("/v1/examples/rocket/result", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.headers["etag"] == etag


def test_example_tasks_stay_out_of_the_callers_list(client: TestClient) -> None:
    before = client.get("/v1/tasks", params={"limit": 500}).json()["tasks"]
    assert client.get("/v1/examples/cat/result").status_code == 200
    after = client.get("/v1/tasks", params={"limit": 500}).json()["tasks"]
    assert after == before, f"example tasks belong to {EXAMPLES_OWNER!r}"


def test_refining_an_example_by_its_image_id(client: TestClient) -> None:
    sha256 = client.get("/v1/examples/astronaut/result").json()["image"]["sha256"]
    response = client.post("/v1/segment", json={"image_id": sha256, "points": [[256, 200]]})
    assert response.status_code == 200, response.text
    assert response.json()["vision_cache_hit"] is True


def test_unknown_example_is_404_naming_the_known_ones(client: TestClient) -> None:
    response = client.get("/v1/examples/unicorn/result")
    assert response.status_code == 404
    assert "cat" in response.json()["error"]["message"]
