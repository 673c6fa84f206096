"""Hostile bodies and headers: each gets a 4xx JSON error, never a 500 and never a hang; the
oversized ones are refused before they are parsed, and before their body is read where the
key or the declared length already settles it (asserted on the bytes the app pulled)."""

from __future__ import annotations

import base64
import io
import json
import socket
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from sam3_service.api.app import create_app
from sam3_service.api.server import http_limits
from sam3_service.auth import Scope
from sam3_service.domain.models import ModelHost
from tests.helpers import make_settings, png_bytes, serve_in_thread, wait_ready

KIB = 1 << 10


@pytest.fixture(scope="module")
def secure(
    tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory, shared_host: ModelHost
) -> Iterator[TestClient]:
    settings = make_settings(tiny_model_dir, tmp_path_factory.mktemp("hostile"), auth_enabled=True)
    with TestClient(create_app(settings, models=shared_host)) as client:
        wait_ready(client)
        yield client


def key(client: TestClient, scope: Scope = Scope.USER) -> dict[str, str]:
    keys = client.app_state["services"].keys
    made = client.portal.call(partial(keys.create, scope=scope, rate_per_min=100_000))
    return {"Authorization": f"Bearer {made.secret}"}


def drive(
    client: TestClient, method: str, path: str, headers: dict[str, str], chunks: list[bytes]
) -> tuple[int, dict[str, Any], int]:
    """Send a body, chunk by chunk, straight to the ASGI app; returns the status, the JSON
    answer and how many body bytes the app pulled."""
    pending = list(chunks)
    pulled = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        if not pending:
            return {"type": "http.disconnect"}
        chunk = pending.pop(0)
        pulled += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": bool(pending)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": client.app_state.copy(),
    }
    client.portal.call(client.app, scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, json.loads(body), pulled


def assert_json_4xx(response: Any, status: int | None = None) -> dict[str, Any]:
    assert 400 <= response.status_code < 500, response.text
    if status is not None:
        assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] and error["message"]
    return error


# Refused before the body is read, or while it streams


def test_a_declared_length_over_the_limit_reads_nothing(client: TestClient) -> None:
    declared = str(64 << 20)
    headers = {"content-type": "application/json", "content-length": declared}
    status, body, pulled = drive(client, "POST", "/v1/segment", headers, [b"{" * (64 * KIB)])
    assert (status, body["error"]["code"], pulled) == (413, "too_large", 0)


@pytest.mark.parametrize("path", ["/v1/tasks/anything/share", "/v1/admin/keys"])
def test_a_small_body_route_refuses_a_large_declared_body_unread(
    secure: TestClient, path: str
) -> None:
    headers = {**key(secure, Scope.ADMIN), "content-type": "application/json"}
    headers["content-length"] = str(1 << 20)
    status, body, pulled = drive(secure, "POST", path, headers, [b" " * (1 << 20)])
    assert (status, body["error"]["code"], pulled) == (413, "too_large", 0)


@pytest.mark.parametrize("path", ["/v1/tasks/anything/share", "/v1/admin/keys"])
def test_a_streamed_body_stops_being_read_past_the_limit(secure: TestClient, path: str) -> None:
    headers = {**key(secure, Scope.ADMIN), "content-type": "application/json"}
    chunks = [b" " * (16 * KIB)] * 64  # 1 MiB, no Content-Length
    status, body, pulled = drive(secure, "POST", path, headers, chunks)
    assert (status, body["error"]["code"]) == (413, "too_large")
    assert pulled <= 64 * KIB + 16 * KIB


@pytest.mark.parametrize(
    "path", ["/v1/admin/keys", "/v1/tasks/anything/share", "/v1/segment", "/v1/tasks"]
)
def test_without_a_key_no_body_is_read(secure: TestClient, path: str) -> None:
    headers = {"content-type": "application/json", "content-length": str(32 * KIB)}
    status, body, pulled = drive(secure, "POST", path, headers, [b"{" * (32 * KIB)])
    assert (status, body["error"]["code"], pulled) == (401, "unauthorized", 0)


def test_a_json_body_without_an_image_is_capped_small(client: TestClient) -> None:
    boxes = json.dumps({"prompt": "cat", "boxes": [[1, 2, 3, 4]] * 20_000}).encode()
    assert len(boxes) > 64 * KIB
    response = client.post(
        "/v1/segment", content=boxes, headers={"content-type": "application/json"}
    )
    error = assert_json_4xx(response, 413)
    assert "other than the base64 `image`" in error["message"]


def noise_png(side: int = 200) -> bytes:
    """A PNG that does not compress: over 64 KiB as base64."""
    buffer = io.BytesIO()
    pixels = np.random.default_rng(0).integers(0, 255, (side, side, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_json_body_with_an_image_may_be_large(client: TestClient) -> None:
    image = base64.b64encode(noise_png()).decode()
    assert len(image) > 64 * KIB
    response = client.post("/v1/segment", json={"image": image, "prompt": "cat"})
    assert response.status_code == 200, response.text


def test_boxes_in_a_huge_image_body_are_still_capped(client: TestClient) -> None:
    image = base64.b64encode(noise_png()).decode()
    body = {"image": image, "prompt": "cat", "boxes": [[1, 2, 3, 4]] * 20_000}
    error = assert_json_4xx(client.post("/v1/segment", json=body), 413)
    assert "other than the base64" in error["message"]


# Pathological bodies


DEEP = "[" * 100_000
HUGE_INT = "1" + "0" * 5000
BIG_INT = "1" + "0" * 4000  # under Python's digit limit, over any float


@pytest.mark.parametrize(
    "body",
    [
        DEEP,
        '{"boxes": ' + DEEP,
        '{"prompt": "cat", "boxes": [[' + HUGE_INT + ", 2, 3, 4]]}",
        '{"prompt": "cat", "boxes": [[' + BIG_INT + ", 2, 3, 4]]}",
        '{"prompt": "cat", "score_threshold": ' + BIG_INT + "}",
        '{"prompt": "cat", "image_id": ' + BIG_INT + "}",
        '{"prompt": "' + "a" * 201 + '"}',
        '{"prompt": "cat", "boxes": ' + json.dumps([[1, 2, 3, 4]] * 17) + "}",
        '{"prompt": "cat", "points": ' + json.dumps([[1, 2]] * 33) + "}",
        '{"prompt": "cat", "mask_key": "images/' + "0" * 64 + '"}',
        '{"prompt": "cat", "colour": "red"}',
        "\ufeff{}",
        "\xff\xfe",
        "",
        "null",
        '"just a string"',
    ],
)
@pytest.mark.parametrize("path", ["/v1/segment", "/v1/tasks"])
def test_a_pathological_json_body_is_a_4xx(client: TestClient, path: str, body: str) -> None:
    headers = {"content-type": "application/json"}
    assert_json_4xx(
        client.post(path, content=body.encode("utf-8", "surrogateescape"), headers=headers)
    )


@pytest.mark.parametrize(
    "fields",
    [
        {"boxes": DEEP[:60_000]},
        {"boxes": "[[" + HUGE_INT + ", 2, 3, 4]]"},
        {"points": "[[" + BIG_INT + ", 2]]"},
        {"prompt": "a" * 201},
        {"prompt": "cat", "mask_key": "masks/" + "0" * 64},
        {"prompt": "cat", "task_id": "é" * 10},
        {"prompt": "x" * (70 * KIB)},
    ],
)
def test_a_pathological_form_is_a_4xx(client: TestClient, fields: dict[str, str]) -> None:
    files = {"file": ("x.png", png_bytes(64, 48), "image/png")}
    assert_json_4xx(client.post("/v1/segment", files=files, data=fields))


def test_mask_key_is_not_a_client_field(client: TestClient) -> None:
    body = {"prompt": "cat", "image": base64.b64encode(png_bytes(64, 48)).decode()}
    error = assert_json_4xx(client.post("/v1/segment", json=body | {"mask_key": "masks/x"}), 422)
    assert "mask_key" in error["message"]


@pytest.mark.parametrize(
    "body",
    [DEEP[:60_000], '{"ttl_s": ' + HUGE_INT + "}", '{"ttl_s": ' + BIG_INT + "}", '{"x": 1}'],
)
def test_a_pathological_share_request_is_a_4xx(secure: TestClient, body: str) -> None:
    headers = {**key(secure), "content-type": "application/json"}
    assert_json_4xx(secure.post("/v1/tasks/anything/share", content=body, headers=headers))


@pytest.mark.parametrize(
    "body",
    [
        DEEP[:60_000],
        '{"rate_per_min": ' + HUGE_INT + "}",
        '{"rate_per_min": ' + BIG_INT + "}",
        '{"owner": "' + "o" * 300 + '"}',
    ],
)
def test_a_pathological_key_request_is_a_4xx(secure: TestClient, body: str) -> None:
    headers = {**key(secure, Scope.ADMIN), "content-type": "application/json"}
    assert_json_4xx(secure.post("/v1/admin/keys", content=body, headers=headers))


@pytest.mark.parametrize(
    "token",
    [
        "é" * 24 + ".2000000000." + "A" * 24,
        "abcdefghijklmnopqrstuv.2000000000." + "é" * 24,
        "abcdefghijklmnopqrstuv.２０００." + "A" * 24,
        "abcdefghijklmnopqrstuv.+2000000000." + "A" * 24,
        "abcdefghijklmnopqrstuv.2_000_000_000." + "A" * 24,
        "%00" * 40,
        "a" * 5000,
    ],
)
def test_a_strange_share_token_is_403(client: TestClient, token: str) -> None:
    error = assert_json_4xx(client.get(f"/v1/shared/{token}"), 403)
    assert error["code"] == "forbidden"


@pytest.mark.parametrize(
    "headers",
    [
        {"X-API-Key": "sam3_" + "é" * 50},
        {"Authorization": "Bearer sam3_" + "\x7f" * 40},
        {"Authorization": "Bearer " + "a" * 8000},
        {"Authorization": "Bearer"},
    ],
)
def test_a_strange_key_is_401(secure: TestClient, headers: dict[str, str]) -> None:
    encoded = {name: value.encode("utf-8") for name, value in headers.items()}
    assert_json_4xx(secure.get("/v1/tasks", headers=encoded), 401)


# Messages


def test_a_fake_png_says_nothing_of_python_objects(client: TestClient) -> None:
    fake = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
    files = {"file": ("x.png", fake, "image/png")}
    error = assert_json_4xx(client.post("/v1/segment", files=files, data={"prompt": "cat"}))
    assert "<" not in error["message"] and "0x" not in error["message"]


def test_a_revoked_key_does_not_say_when(secure: TestClient) -> None:
    keys = secure.app_state["services"].keys
    made = secure.portal.call(partial(keys.create, scope=Scope.USER))
    secure.portal.call(keys.revoke, made.key.id)
    error = assert_json_4xx(secure.get("/v1/tasks", headers={"X-API-Key": made.secret}), 401)
    assert error["message"] == "this API key was revoked"


def test_a_missing_result_names_no_blob_key(client: TestClient) -> None:
    files = {"file": ("x.png", png_bytes(66, 44), "image/png")}
    task = client.post("/v1/segment", files=files, data={"prompt": "cat"}).json()
    services = client.app_state["services"]
    record = client.portal.call(partial(services.store.find, task["task_id"], owner=None))
    client.portal.call(services.blobs.delete, record.result_key)
    response = client.get(f"/v1/tasks/{task['task_id']}/result.json")
    error = assert_json_4xx(response, 404)
    assert "results/" not in response.text and "/" not in error["message"]


# Headers and slow clients, on a real uvicorn with `serve`'s limits


@pytest.fixture(scope="module")
def served(
    tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory, shared_host: ModelHost
) -> Iterator[tuple[str, int]]:
    settings = make_settings(tiny_model_dir, tmp_path_factory.mktemp("served"), http_keep_alive_s=5)
    app = create_app(settings, models=shared_host)
    with serve_in_thread(app, **http_limits(settings)) as url:
        address = urlsplit(url)
        yield str(address.hostname), int(address.port or 0)


def raw_request(address: tuple[str, int], data: bytes) -> bytes:
    """Send raw bytes; returns what came back before the server closed or 10 s passed."""
    with socket.create_connection(address, timeout=10) as conn:
        try:
            conn.sendall(data)
        except OSError:
            pass
        received = b""
        try:
            while chunk := conn.recv(65536):
                received += chunk
        except OSError:
            pass
        return received


def test_a_1_mb_header_is_refused(served: tuple[str, int]) -> None:
    request = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n"
    answer = raw_request(served, request)
    assert answer.startswith(b"HTTP/1.1 4") or answer == b""
    assert b"200 OK" not in answer


def test_serve_closes_idle_keep_alive_connections(served: tuple[str, int]) -> None:
    import time

    with socket.create_connection(served, timeout=30) as conn:
        conn.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert conn.recv(65536).startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        assert conn.recv(65536) == b""  # the server closes the idle connection
        assert time.monotonic() - started < 25


@pytest.mark.parametrize("owner", ["   ", "examples", "anonymous"])
def test_a_reserved_or_blank_owner_is_refused(secure: TestClient, owner: str) -> None:
    headers = key(secure, Scope.ADMIN)
    assert_json_4xx(secure.post("/v1/admin/keys", json={"owner": owner}, headers=headers), 422)
