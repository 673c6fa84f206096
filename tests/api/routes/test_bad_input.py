"""Every kind of bad input gets a clear 4xx JSON error, never a 500."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from sam3_service.api.app import create_app
from sam3_service.domain.models import ModelHost
from tests.helpers import make_settings, png_bytes, wait_ready


def upload(client: TestClient, data: bytes, name: str = "x.png", **fields: str):
    return client.post("/v1/segment", files={"file": (name, data, "image/png")}, data=fields)


def assert_error(response, status: int, code: str, *words: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    for word in words:
        assert word.lower() in error["message"].lower(), error["message"]


def bomb_png(width: int, height: int) -> bytes:
    """A valid little PNG header that declares a huge picture."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    row = b"\x00" + b"\x00" * ((width + 7) // 8)
    body = zlib.compress(row * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def small_client(
    tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory, shared_host: ModelHost
) -> Iterator[TestClient]:
    """An app with small limits: 200 KB uploads, 512 px sides, 3 boxes, 3 points."""
    settings = make_settings(
        tiny_model_dir,
        tmp_path_factory.mktemp("small"),
        max_upload_bytes=200_000,
        max_image_side=512,
        max_boxes=3,
        max_points=3,
    )
    with TestClient(create_app(settings, models=shared_host)) as client:
        wait_ready(client)
        yield client


def test_text_file_is_unsupported(client: TestClient) -> None:
    assert_error(
        upload(client, b"hello, I am text\n" * 10, "a.txt", prompt="cat"), 415, "unsupported_media"
    )


def test_gif_is_unsupported(client: TestClient) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (20, 20)).save(buffer, format="GIF")
    assert_error(upload(client, buffer.getvalue(), prompt="cat"), 415, "unsupported_media", "GIF")


def test_truncated_jpeg_is_corrupt(client: TestClient) -> None:
    data = png_bytes(fmt="JPEG")
    assert_error(upload(client, data[: len(data) // 2], prompt="cat"), 415, "unsupported_media")


def test_empty_file(client: TestClient) -> None:
    response = upload(client, b"", prompt="cat")
    assert response.status_code in (415, 422)


def test_too_many_bytes_is_refused_while_streaming(small_client: TestClient) -> None:
    sent = []

    def chunks() -> Iterator[bytes]:
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="x.png"\r\n\r\n'
        for _ in range(100):  # 6.4 MB if nobody stopped reading
            sent.append(1)
            yield b"x" * 64_000

    response = small_client.post(
        "/v1/segment", content=chunks(), headers={"content-type": "multipart/form-data; boundary=b"}
    )
    assert_error(response, 413, "too_large", "SAM3_MAX_UPLOAD_BYTES")


def test_declared_length_over_the_limit_is_refused_before_reading(small_client: TestClient) -> None:
    response = upload(small_client, b"\x00" * 400_000, prompt="cat")
    assert_error(response, 413, "too_large")


def test_too_many_pixels(small_client: TestClient) -> None:
    assert_error(upload(small_client, png_bytes(600, 100), prompt="cat"), 413, "too_large", "512")


def test_decompression_bomb(client: TestClient) -> None:
    assert_error(upload(client, bomb_png(40000, 40000), prompt="cat"), 413, "too_large")


@pytest.mark.parametrize("prompt", ["猫", "кошка", "a 猫", "قطة"])
def test_non_english_prompt(client: TestClient, image_png: bytes, prompt: str) -> None:
    assert_error(upload(client, image_png, prompt=prompt), 422, "invalid_input", "English")


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"boxes": "[[10, 10, 400, 100]]"}, ["outside the image", "320x240"]),
        ({"boxes": "[[100, 10, 50, 100]]"}, ["x0 < x1"]),
        ({"boxes": "[[10, 10, 100]]"}, ["[x0, y0, x1, y1]"]),
        ({"boxes": "[[NaN, 10, 100, 100]]"}, ["finite"]),
        ({"boxes": "[[10, 10, 100, 100, 7]]"}, ["label"]),
        ({"boxes": "not json"}, ["JSON list"]),
        ({"points": "[[-5, 10]]"}, ["outside the image"]),
        ({"points": "[[5, 10, 2]]"}, ["label"]),
        ({"prompt": "   "}, ["empty prompt"]),
        ({"score_threshold": "2"}, ["score_threshold"]),
        ({"mode": "magic"}, ["mode"]),
        ({"mask_format": "jpeg"}, ["mask_format"]),
        ({"colour": "red", "prompt": "cat"}, ["unknown form fields"]),
        ({"mode": "interactive", "boxes": "[[1, 1, 50, 50], [60, 60, 90, 90]]"}, ["box"]),
    ],
)
def test_bad_prompt_fields(
    client: TestClient, image_png: bytes, fields: dict[str, str], words: list[str]
) -> None:
    assert_error(upload(client, image_png, **fields), 422, "invalid_input", *words)


def test_too_many_boxes_and_points(small_client: TestClient, image_png: bytes) -> None:
    boxes = "[" + ",".join(["[1, 1, 20, 20]"] * 4) + "]"
    assert_error(upload(small_client, image_png, boxes=boxes), 422, "invalid_input", "too many")
    points = "[" + ",".join(["[5, 5]"] * 4) + "]"
    assert_error(upload(small_client, image_png, points=points), 422, "invalid_input", "too many")


def test_no_image(client: TestClient) -> None:
    response = client.post("/v1/segment", data={"prompt": "cat"})
    assert_error(response, 422, "invalid_input", "image")


def test_json_errors(client: TestClient) -> None:
    assert_error(
        client.post("/v1/segment", content=b"{", headers={"content-type": "application/json"}),
        422,
        "invalid_input",
        "JSON",
    )
    assert_error(
        client.post("/v1/segment", json={"image": "!!!", "prompt": "cat"}),
        422,
        "invalid_input",
        "base64",
    )
    assert_error(client.post("/v1/segment", json=[1, 2]), 422, "invalid_input", "object")
    assert_error(
        client.post("/v1/segment", content=b"x", headers={"content-type": "text/plain"}),
        415,
        "unsupported_media",
    )


def test_unknown_image_id(client: TestClient) -> None:
    response = client.post("/v1/segment", json={"image_id": "0" * 64, "prompt": "cat"})
    assert_error(response, 404, "not_found")


def test_image_id_cannot_escape_storage(client: TestClient) -> None:
    response = client.post("/v1/segment", json={"image_id": "../../etc/passwd", "prompt": "cat"})
    assert response.status_code in (404, 422), response.text


def test_mask_of_the_wrong_size(client: TestClient, image_png: bytes) -> None:
    buffer = io.BytesIO()
    Image.new("L", (10, 10)).save(buffer, format="PNG")
    files = {"file": ("x.png", image_png, "image/png"), "mask": ("m.png", buffer.getvalue())}
    response = client.post("/v1/segment", files=files, data={"points": "[[5, 5]]"})
    assert_error(response, 422, "invalid_input")


def test_unknown_route_is_json(client: TestClient) -> None:
    assert_error(client.get("/v1/nothing-here"), 404, "not_found")
