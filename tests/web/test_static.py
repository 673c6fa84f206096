"""The page's files are served by the API, after every API route, with no build step."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from sam3_service.api.app import create_app
from sam3_service.domain.models import ModelHost
from tests.helpers import make_settings

STATIC = Path(__file__).resolve().parents[2] / "src" / "sam3_service" / "web" / "static"


@pytest.fixture(scope="module")
def client(
    tiny_model_dir: Path, web_host: ModelHost, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    settings = make_settings(tiny_model_dir, tmp_path_factory.mktemp("static"))
    with TestClient(create_app(settings, models=web_host)) as test_client:
        yield test_client


def test_the_page_is_served_at_the_root(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="js/app.js">' in response.text


@pytest.mark.parametrize(
    ("path", "kind"), [("/js/app.js", "javascript"), ("/style.css", "text/css")]
)
def test_scripts_and_styles_have_their_types(client: TestClient, path: str, kind: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert kind in response.headers["content-type"]
    assert "etag" in response.headers


def test_api_routes_win_over_files(client: TestClient) -> None:
    assert client.get("/ready").headers["content-type"] == "application/json"
    missing = client.get("/v1/no-such-route")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


def test_every_module_the_page_imports_exists() -> None:
    scripts = list((STATIC / "js").glob("*.js"))
    assert scripts
    for script in scripts:
        for target in re.findall(r'from "(\./[^"]+)"', script.read_text()):
            assert (script.parent / target).is_file(), f"{script.name} imports {target}"
