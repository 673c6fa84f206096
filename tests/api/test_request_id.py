"""Every answer carries an `X-Request-ID`, and every log line of a request carries the same id."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient

from sam3_service import logs
from sam3_service.api.app import create_app
from sam3_service.api.request_id import current_request_id
from sam3_service.domain.models import ModelHost
from tests.helpers import make_settings

GENERATED = re.compile(r"[0-9a-f]{32}")
test_log = logging.getLogger("tests.request_id")


@pytest.fixture(scope="module")
def client(
    tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory, shared_host: ModelHost
) -> Iterator[TestClient]:
    """The app, with a small upload limit and two routes of the test's own: one logs, one fails."""
    settings = make_settings(
        tiny_model_dir, tmp_path_factory.mktemp("request-id"), max_upload_bytes=1000
    )
    app = create_app(settings, models=shared_host)
    extra = APIRouter()

    @extra.get("/test/log")
    async def log_a_line() -> dict[str, str | None]:
        test_log.warning("inside the request")
        return {"request_id": current_request_id()}

    @extra.get("/test/fail")
    async def fail() -> None:
        raise RuntimeError("an unexpected failure")

    app.router.routes[0:0] = extra.routes  # ahead of the static files mounted at "/"
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def test_an_answer_gets_a_new_id(client: TestClient) -> None:
    first, second = client.get("/health"), client.get("/health")
    assert GENERATED.fullmatch(first.headers["x-request-id"])
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


@pytest.mark.parametrize("incoming", ["abc-123_X.y:z", "7f3e" * 32])
def test_a_sane_incoming_id_is_kept(client: TestClient, incoming: str) -> None:
    response = client.get("/health", headers={"X-Request-ID": incoming})
    assert response.headers["x-request-id"] == incoming


@pytest.mark.parametrize("incoming", ["", "two words", "x" * 129, "<script>", "é"])
def test_an_odd_incoming_id_is_replaced(client: TestClient, incoming: str) -> None:
    response = client.get("/health", headers={"X-Request-ID": incoming.encode("utf-8")})
    assert GENERATED.fullmatch(response.headers["x-request-id"])


def test_errors_carry_the_id_too(client: TestClient) -> None:
    answers = {
        404: client.get("/v1/tasks/unknown"),
        415: client.post("/v1/segment", content=b"x", headers={"content-type": "text/plain"}),
        422: client.get("/v1/tasks?limit=0"),
        413: client.post("/v1/segment", content=b"x" * (2 << 20)),
        500: client.get("/test/fail"),
    }
    for status, response in answers.items():
        assert response.status_code == status, response.text
        assert GENERATED.fullmatch(response.headers["x-request-id"]), status


def test_static_files_carry_the_id(client: TestClient) -> None:
    assert client.get("/").headers["x-request-id"]


def test_log_lines_of_a_request_carry_its_id(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(logs.API_TEXT))
    handler.addFilter(logs.ContextFilter())
    test_log.addHandler(handler)
    try:
        response = client.get("/test/log", headers={"X-Request-ID": "trace-42"})
        test_log.warning("outside any request")
    finally:
        test_log.removeHandler(handler)
    assert response.json() == {"request_id": "trace-42"}
    assert stream.getvalue().splitlines() == [
        "WARNING tests.request_id [trace-42]: inside the request",
        "WARNING tests.request_id [-]: outside any request",
    ]


def test_the_log_line_of_an_unexpected_error_carries_its_id(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="sam3_service.api.errors"):
        response = client.get("/test/fail")
    [record] = [r for r in caplog.records if "unexpected error" in r.getMessage()]
    assert getattr(record, "request_id", None) == response.headers["x-request-id"]


def test_the_log_lines_of_refused_requests_carry_their_ids(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    text = {"content-type": "text/plain"}
    with caplog.at_level(logging.WARNING, logger="sam3_service.api"):
        answers = {
            404: client.get("/v1/tasks/unknown", headers={"X-Request-ID": "r-404"}),
            415: client.post(
                "/v1/segment", content=b"x", headers={"X-Request-ID": "r-415", **text}
            ),
            422: client.get("/v1/tasks?limit=0", headers={"X-Request-ID": "r-422"}),
            413: client.post(
                "/v1/segment", content=b"x" * (2 << 20), headers={"X-Request-ID": "r-413"}
            ),
        }
    for status, response in answers.items():
        assert response.status_code == status, response.text
        [record] = [r for r in caplog.records if getattr(r, "request_id", "") == f"r-{status}"]
        assert record.levelname == "WARNING" and record.getMessage().startswith(f"{status} ")
