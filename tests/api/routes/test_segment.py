"""POST /v1/segment: every prompt kind, both body types, and the result's shape."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from pycocotools import mask as mask_utils

from sam3_service.domain.models import ModelHost
from tests.helpers import png_bytes


def post_form(client: TestClient, image: bytes, **fields: object):
    data = {k: v if isinstance(v, str) else json.dumps(v) for k, v in fields.items()}
    return client.post("/v1/segment", files={"file": ("x.png", image, "image/png")}, data=data)


def assert_valid_result(body: dict, width: int, height: int) -> None:
    assert body["image"]["width"] == width and body["image"]["height"] == height
    assert len(body["image"]["sha256"]) == 64
    assert body["model"]["random"] is True
    assert "meaningless" in body["warning"]
    scores = [obj["score"] for obj in body["objects"]]
    assert scores == sorted(scores, reverse=True)
    for index, obj in enumerate(body["objects"]):
        assert obj["id"] == index
        x0, y0, x1, y1 = obj["bbox"]
        assert 0 <= x0 <= x1 <= width and 0 <= y0 <= y1 <= height
        rle = {"size": obj["rle"]["size"], "counts": obj["rle"]["counts"].encode()}
        decoded = mask_utils.decode(rle)
        assert decoded.shape == (height, width)
        assert int(decoded.sum()) == obj["area"]
    for stage in ("decode", "encode_image", "postprocess"):
        assert stage in body["timings_ms"]


def test_text_prompt_multipart(client: TestClient, image_png: bytes) -> None:
    response = post_form(client, image_png, prompt="cat", score_threshold="0")
    assert response.status_code == 200, response.text
    body = response.json()
    assert_valid_result(body, 320, 240)
    assert body["prompt"]["prompt"] == "cat"
    assert body["objects"], "a zero score threshold keeps the model's detections"
    assert body["links"]["masks_png"].endswith("/masks.png")


def test_json_body_with_base64_image(client: TestClient, image_png: bytes) -> None:
    body = {"image": base64.b64encode(image_png).decode(), "prompt": "dog", "score_threshold": 0}
    response = client.post("/v1/segment", json=body)
    assert response.status_code == 200, response.text
    assert_valid_result(response.json(), 320, 240)


def test_exemplar_boxes_concept_mode(client: TestClient, image_png: bytes) -> None:
    response = post_form(
        client, image_png, boxes=[[40, 60, 160, 180], [200, 48, 280, 120, 0]], score_threshold="0"
    )
    assert response.status_code == 200, response.text
    assert_valid_result(response.json(), 320, 240)


@pytest.mark.parametrize(
    "fields",
    [
        {"points": [[100, 120]]},
        {"points": [[100, 120], [250, 80, 0]]},
        {"boxes": [[40, 60, 160, 180]]},
        {"boxes": [[40, 60, 160, 180]], "points": [[100, 120]]},
    ],
    ids=["one-click", "click-and-negative", "single-box", "box-and-click"],
)
def test_interactive_prompts_give_at_most_one_object(
    client: TestClient, image_png: bytes, fields: dict
) -> None:
    response = post_form(client, image_png, score_threshold="0", **fields)
    assert response.status_code == 200, response.text
    body = response.json()
    assert_valid_result(body, 320, 240)
    assert len(body["objects"]) == 1


def test_input_mask_is_accepted_in_interactive_mode(client: TestClient, image_png: bytes) -> None:
    mask = Image.new("L", (320, 240))
    mask.paste(255, (40, 60, 160, 180))
    buffer = io.BytesIO()
    mask.save(buffer, format="PNG")
    files = {
        "file": ("x.png", image_png, "image/png"),
        "mask": ("m.png", buffer.getvalue(), "image/png"),
    }
    data = {"points": "[[100, 120]]", "score_threshold": "0"}
    response = client.post("/v1/segment", files=files, data=data)
    assert response.status_code == 200, response.text
    assert len(response.json()["objects"]) == 1


def test_second_prompt_on_the_same_image_reuses_vision_features(
    client: TestClient, shared_host: ModelHost
) -> None:
    image = png_bytes(300, 200)
    stats = shared_host.engine().stats
    runs_before = stats.vision_encoder_runs
    first = post_form(client, image, prompt="cat", score_threshold="0").json()
    image_id = first["image"]["sha256"]
    second = client.post("/v1/segment", json={"image_id": image_id, "prompt": "bird"})
    assert second.status_code == 200, second.text
    assert first["vision_cache_hit"] is False
    assert second.json()["vision_cache_hit"] is True
    assert stats.vision_encoder_runs - runs_before == 1


def test_repeated_request_is_served_from_the_result_cache(
    client: TestClient, shared_host: ModelHost
) -> None:
    image = png_bytes(310, 210)
    first = post_form(client, image, prompt="  A   Tree ").json()
    stats = shared_host.engine().stats
    runs, text_runs = stats.vision_encoder_runs, stats.text_encoder_runs
    second = post_form(client, image, prompt="a tree").json()
    assert second["objects"] == first["objects"]
    assert second["task_id"] != first["task_id"]
    assert (stats.vision_encoder_runs, stats.text_encoder_runs) == (runs, text_runs)


def test_mask_formats_png_and_polygons(client: TestClient, image_png: bytes) -> None:
    response = post_form(
        client, image_png, points=[[100, 120]], score_threshold="0", mask_format="png,polygons"
    )
    obj = response.json()["objects"][0]
    mask = np.array(Image.open(io.BytesIO(base64.b64decode(obj["mask_png"]))))
    assert mask.shape == (240, 320)
    assert int((mask > 0).sum()) == obj["area"]
    assert isinstance(obj["polygons"], list)


def test_score_threshold_filters_objects(client: TestClient, image_png: bytes) -> None:
    loose = post_form(client, image_png, prompt="shape", score_threshold="0").json()
    strict = post_form(client, image_png, prompt="shape", score_threshold="1").json()
    assert len(strict["objects"]) <= len(loose["objects"])
    assert all(obj["score"] >= 1 for obj in strict["objects"])


def test_same_request_twice_gives_the_same_masks(client: TestClient) -> None:
    image = png_bytes(256, 256)
    first = post_form(client, image, points=[[64, 64]], score_threshold="0").json()
    client.post(
        "/v1/segment",
        files={"file": ("y.png", png_bytes(200, 100), "image/png")},
        data={"points": "[[10, 10]]"},
    )
    again = post_form(client, image, points=[[64, 64]], score_threshold="0").json()
    assert first["objects"] == again["objects"]


def test_exif_orientation_is_applied(client: TestClient) -> None:
    image = Image.open(io.BytesIO(png_bytes(200, 100)))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif)
    response = client.post(
        "/v1/segment",
        files={"file": ("r.jpg", buffer.getvalue(), "image/jpeg")},
        data={"points": "[[50, 150]]"},
    )
    assert response.status_code == 200, response.text
    assert (response.json()["image"]["width"], response.json()["image"]["height"]) == (100, 200)


def test_the_random_model_says_why_a_text_prompt_found_nothing(client: TestClient) -> None:
    body = post_form(client, png_bytes(), prompt="cat").json()
    assert body["objects"] == []
    assert "score about 0.25" in body["warning"] and "score_threshold=0.2" in body["warning"]
    lowered = post_form(client, png_bytes(), prompt="cat", score_threshold=0.2).json()
    assert lowered["objects"] and "0.25" not in lowered["warning"]
