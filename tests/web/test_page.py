"""The web page, end to end: headless Chromium against a real service on the tiny random model."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from tests.helpers import png_bytes
from tests.video_helpers import (
    check_jsonl_frames,
    decode_frames,
    encode_video,
    make_mp4,
    moving_shapes,
    read_jsonl,
)

pytestmark = pytest.mark.browser


@pytest.fixture
def picture(tmp_path: Path) -> Path:
    path = tmp_path / "shapes.png"
    path.write_bytes(png_bytes(480, 320))
    return path


def lower_threshold(page: Any) -> None:
    """Move the score slider to its minimum with the keyboard (the tiny model scores ~0.25)."""
    page.focus("#threshold")
    page.keyboard.press("Home")


def segment(page: Any, picture: Path, prompt: str = "shape") -> None:
    page.set_input_files("#file", str(picture))
    page.wait_for_selector("#picture:visible")
    lower_threshold(page)
    page.fill("#prompt", prompt)
    page.press("#prompt", "Enter")
    page.wait_for_selector("#objects .object")


def listed_ids(page: Any) -> list[int]:
    return [
        int(i)
        for i in page.eval_on_selector_all("#objects .object", "n => n.map(e => e.dataset.id)")
    ]


def painted(page: Any) -> np.ndarray:
    """Where the overlay canvas is not transparent, as an HxW bool array."""
    data = page.evaluate(
        """() => {
            const c = document.getElementById('overlay');
            const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            const alpha = new Array(c.width * c.height);
            for (let i = 0; i < alpha.length; i++) alpha[i] = px[i * 4 + 3] > 0 ? 1 : 0;
            return {width: c.width, height: c.height, alpha};
        }"""
    )
    return np.array(data["alpha"], bool).reshape(data["height"], data["width"])


def union(objects: list[dict[str, Any]], ids: list[int]) -> np.ndarray:
    masks = [
        mask_utils.decode({"size": o["rle"]["size"], "counts": o["rle"]["counts"].encode()})
        for o in objects
        if o["id"] in ids
    ]
    return np.any(np.stack(masks), axis=0)


def download(page: Any, kind: str) -> Path:
    with page.expect_download() as info:
        page.click(f"[data-download={kind}]")
    return Path(info.value.path())


def test_upload_prompt_click_download(
    open_page: Any, live_url: str, picture: Path, screenshot: Any
) -> None:
    page = open_page(live_url)
    page.wait_for_selector("#random-banner:visible")
    screenshot(page, "01-empty")
    segment(page, picture, "shape")
    ids = listed_ids(page)
    assert ids, "the tiny model's detections are listed"
    assert "ms" in page.text_content("#timing")

    result = json.loads(download(page, "result_json").read_text())
    assert [o["id"] for o in result["objects"] if o["score"] >= 0.05] == ids
    assert np.array_equal(painted(page), union(result["objects"], ids)), "masks drawn from RLE"

    masks_png = Image.open(download(page, "masks_png"))
    assert masks_png.size == (480, 320) and masks_png.mode == "RGBA"
    overlay_png = Image.open(download(page, "overlay_png"))
    assert overlay_png.size == (480, 320)

    page.hover(f"#objects .object[data-id='{ids[0]}']")
    assert "is-highlighted" in page.get_attribute(f".object[data-id='{ids[0]}']", "class")
    page.uncheck(f"#object-{ids[0]}")
    assert np.array_equal(painted(page), union(result["objects"], ids[1:]))
    page.check(f"#object-{ids[0]}")

    page.fill("#threshold", "1")
    page.wait_for_selector("#objects .object", state="detached")
    assert "below the minimum score" in page.text_content("#objects-note")
    lower_threshold(page)
    screenshot(page, "02-result")

    with page.expect_request("**/v1/segment") as request:
        page.click("#canvas-wrap", position={"x": 200, "y": 150})
    sent = request.value.post_data_json
    assert sent["image_id"] == result["image"]["sha256"], "a refinement sends the image_id"
    assert len(sent["points"]) == 1 and sent["points"][0][2] == 1
    page.wait_for_selector("#steps-list li:nth-child(2)", state="attached")
    assert "image features reused" in page.text_content("#timing")
    assert page.locator("#marks .point.positive").count() == 1
    screenshot(page, "03-refined", phone=False)


def test_share_link_opens_read_only_for_anyone(
    open_page: Any, live_url: str, picture: Path, screenshot: Any
) -> None:
    page = open_page(live_url)
    segment(page, picture)
    count = len(listed_ids(page))
    page.click("#share")
    page.wait_for_selector("#share-result:visible")
    url = page.input_value("#share-url")
    assert "/?share=" in url
    assert page.text_content("#share-expiry")

    viewer = open_page(url)  # a fresh context: no key, no storage
    viewer.wait_for_selector("#shared-banner:visible")
    lower_threshold(viewer)
    viewer.wait_for_selector("#objects .object")
    assert len(listed_ids(viewer)) == count
    assert painted(viewer).any()
    assert not viewer.is_visible("#segment-form") and not viewer.is_visible("#share")
    screenshot(viewer, "04-shared")

    forged = open_page(url[:-3] + "xyz")
    forged.wait_for_selector("#general-error:visible")
    assert "expired or is not valid" in forged.text_content("#general-error")


def test_starting_banner_until_the_model_is_ready(
    open_page: Any, starting_service: tuple[str, threading.Event], picture: Path, screenshot: Any
) -> None:
    base_url, gate = starting_service
    page = open_page(base_url)
    page.wait_for_selector("#starting-banner:visible")
    page.set_input_files("#file", str(picture))
    page.fill("#prompt", "shape")
    assert page.is_disabled("#run")
    screenshot(page, "05-starting")
    gate.set()
    page.wait_for_selector("#starting-banner", state="hidden", timeout=30_000)
    page.wait_for_selector("#run:enabled")
    page.press("#prompt", "Enter")
    page.wait_for_selector("#timing:has-text('ms')")


def test_a_chinese_prompt_is_explained_next_to_the_prompt(
    open_page: Any, live_url: str, picture: Path, screenshot: Any
) -> None:
    page = open_page(live_url)
    page.set_input_files("#file", str(picture))
    page.fill("#prompt", "狗")
    page.click("#run")
    page.wait_for_selector("#prompt-error:visible")
    assert "English" in page.text_content("#prompt-error")
    assert page.get_attribute("#prompt", "aria-invalid") is not None
    screenshot(page, "06-error-prompt")
    page.fill("#prompt", "dog")
    assert page.is_hidden("#prompt-error"), "typing clears the error"


@pytest.mark.parametrize(
    "side", [300, 900], ids=["checked-by-the-domain", "cut-off-while-streaming"]
)
def test_an_oversized_file_is_explained_next_to_the_file(
    open_page: Any, small_upload_url: str, tmp_path: Path, screenshot: Any, side: int
) -> None:
    noise = np.random.default_rng(0).integers(0, 255, (side, side, 3), np.uint8)
    big = tmp_path / "big.png"
    Image.fromarray(noise).save(big)
    assert big.stat().st_size > 100_000
    page = open_page(small_upload_url)
    page.set_input_files("#file", str(big))
    page.fill("#prompt", "dog")
    page.click("#run")
    page.wait_for_selector("#file-error:visible")
    assert "too large" in page.text_content("#file-error")
    screenshot(page, f"07-error-file-{side}", phone=False)


@pytest.fixture
def clip(tmp_path: Path) -> Any:
    """`clip(frames)`: a synthetic 160x120 H.264 MP4 of moving shapes at 12 frames a second."""

    def write(frames: int, **options: Any) -> Path:
        path = tmp_path / f"shapes-{frames}.mp4"
        path.write_bytes(make_mp4(frames, 160, 120, fps=12, **options))
        return path

    return write


def open_video(page: Any, path: Path, frames: int) -> str:
    """Open a video; once its header is read (the frame count shows), return its URL."""
    page.set_input_files("#file", str(path))
    page.wait_for_selector("#video:visible")
    page.wait_for_selector(f"#video-frame:has-text('/ {frames - 1}')")
    return str(page.eval_on_selector("#video", "video => video.src"))


def sent_form(page: Any) -> dict[str, str]:
    """The text fields of the last multipart request the page sent (see conftest.py)."""
    return dict(page.evaluate("window.sentForms.at(-1).fields"))


def test_a_video_is_tracked_with_progress_overlay_tracks_and_files(
    open_page: Any, live_url: str, clip: Any, screenshot: Any
) -> None:
    page = open_page(live_url)
    source = open_video(page, clip(12), frames=12)
    assert page.text_content("#run") == "Track"
    lower_threshold(page)
    page.click("#video-options summary")
    page.fill("#frame-stride", "2")
    page.fill("#prompt", "shape")
    with page.expect_request("**/v1/tasks"):
        page.press("#prompt", "Enter")
    assert sent_form(page) == {"prompt": "shape", "score_threshold": "0.05", "frame_stride": "2"}

    page.wait_for_selector("#progress-text:has-text('100%')", timeout=40_000)
    assert "6 of 6" in page.text_content("#progress-text")
    assert page.eval_on_selector("#progress-bar", "bar => bar.value") == 1
    page.wait_for_function(
        """source => {
            const video = document.getElementById('video');
            return video.src !== source && video.readyState >= 1 && video.videoWidth === 160;
        }""",
        arg=source,
    )
    assert page.text_content("#stage-title") == "Tracked video"

    summary = json.loads(download(page, "result_json").read_text())
    assert summary["kind"] == "video" and summary["frames_processed"] == 6
    assert summary["tracks"], "the tiny model's detections are tracked"
    assert listed_ids(page) == [track["id"] for track in summary["tracks"]]
    first = summary["tracks"][0]
    assert f"frames {first['first_frame']}–{first['last_frame']}" in page.text_content("#objects")
    lines = read_jsonl(download(page, "result_jsonl").read_bytes())
    assert [line["frame"] for line in lines] == [0, 2, 4, 6, 8, 10], "a line per processed frame"
    check_jsonl_frames(lines, width=160, height=120)
    overlay = decode_frames(download(page, "overlay_mp4").read_bytes())
    assert len(overlay) == 6 and overlay[0].shape == (120, 160, 3)
    assert page.is_hidden("[data-download=masks_png]")
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "13-video-result")

    page.click("#share")
    page.wait_for_selector("#share-result:visible")
    viewer = open_page(page.input_value("#share-url"))  # a fresh context: no key, no storage
    viewer.wait_for_selector("#shared-banner:visible")
    viewer.wait_for_selector("#objects .track")
    viewer.wait_for_function("document.getElementById('video').videoWidth === 160")
    assert listed_ids(viewer) == listed_ids(page)
    assert len(read_jsonl(download(viewer, "result_jsonl").read_bytes())) == 6
    assert not viewer.is_visible("#segment-form") and not viewer.is_visible("#share")
    screenshot(viewer, "16-video-shared", phone=False)


def test_a_click_on_a_paused_frame_follows_that_object_found_again_and_cancelled(
    open_page: Any, live_url: str, clip: Any, screenshot: Any
) -> None:
    page = open_page(live_url)
    open_video(page, clip(240), frames=240)  # 20 s: tracking takes far longer than this test
    page.wait_for_function("!document.getElementById('video').paused")
    page.click("#video-play")
    page.focus("#video-seek")
    page.keyboard.press("Home")
    for _ in range(3):
        page.click("#video-forward")
    page.wait_for_selector("#video-frame:has-text('Frame 3 /')")
    page.click("#canvas-wrap", position={"x": 50, "y": 60})
    page.wait_for_selector("#marks .point.positive")
    assert "marks on frame 3" in page.text_content("#video-frame")
    page.fill("#prompt", "shape")
    assert page.is_visible("#prompt-aside"), "a mark sets the text aside"
    with page.expect_request("**/v1/tasks"):
        page.click("#run")
    assert sent_form(page) == {"points": "[[50,60,1]]", "prompt_frame": "3"}
    page.wait_for_selector("#progress-text:has-text('of 240')")
    screenshot(page, "14-video-running", phone=False)

    page.reload()  # leave, and come back through the recent tasks
    page.wait_for_selector("#recent .recent")
    assert "video" in page.text_content("#recent .recent >> nth=0")
    page.click("#recent .recent >> nth=0")
    page.wait_for_selector("#video:visible")
    page.click("#cancel")
    page.wait_for_selector("#progress-text:has-text('Cancelled after')")
    assert page.is_hidden("#cancel")
    page.wait_for_selector("#recent .status-cancelled")


def test_a_video_the_service_cannot_read_is_explained_in_chinese(
    open_page: Any, live_url: str, tmp_path: Path, screenshot: Any
) -> None:
    path = tmp_path / "mpeg4.mp4"
    path.write_bytes(encode_video(moving_shapes(6, 64, 48), codec="mpeg4"))
    page = open_page(live_url, locale="zh-CN")
    page.set_input_files("#file", str(path))
    page.wait_for_selector("#video:visible")
    page.fill("#prompt", "shape")
    page.click("#run")
    page.wait_for_selector("#file-error:has-text('mpeg4')")
    assert "服务无法读取" in page.text_content("#file-error")
    assert page.get_attribute("#file", "aria-invalid") is not None
    screenshot(page, "15-video-codec", phone=False)


def test_language_switch_is_remembered(
    open_page: Any, live_url: str, picture: Path, screenshot: Any
) -> None:
    page = open_page(live_url)
    page.select_option("#language", "zh")
    assert page.text_content("h1") == "SAM 3 图像分割"
    assert page.get_attribute("html", "lang") == "zh-CN"
    assert "英文" in page.text_content("#prompt-hint"), "the prompt stays English, and says so"
    segment(page, picture)
    assert "分数" in page.text_content("#objects")
    screenshot(page, "08-chinese")
    page.reload()
    assert page.text_content("h1") == "SAM 3 图像分割"
    page.select_option("#language", "en")
    assert page.text_content("h1") == "SAM 3 segmentation"


def test_an_example_shows_its_cached_result(open_page: Any, live_url: str, screenshot: Any) -> None:
    page = open_page(live_url)
    page.click("[data-example=cat]")
    page.wait_for_selector("#picture:visible")
    assert page.input_value("#prompt") == "cat"
    lower_threshold(page)
    page.wait_for_selector("#objects .object")
    assert painted(page).any()
    assert page.is_visible("#downloads-note")
    assert "Stefan van der Walt" in page.text_content("#credits")
    screenshot(page, "09-example")
    assert page.evaluate("document.getElementById('file').files[0].name") == "cat.png"
    with page.expect_request("**/v1/segment") as request:
        page.click("#run")
    assert "image_id" in request.value.post_data_json, "the example's picture is on the service"
    page.wait_for_selector("#share:visible")
    page.click("#canvas-wrap", position={"x": 200, "y": 150})
    page.wait_for_selector("#steps-list li:nth-child(2)", state="attached")
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "10-example-click", phone=False)


def test_a_recent_task_is_found_again_after_a_reload(
    open_page: Any, live_url: str, picture: Path
) -> None:
    page = open_page(live_url)
    segment(page, picture, "circle")
    ids = listed_ids(page)
    page.reload()
    page.wait_for_selector("#recent .recent")
    assert "circle" in page.text_content("#recent")
    page.click("#recent .recent >> nth=0")
    page.wait_for_selector("#picture:visible")
    lower_threshold(page)
    page.wait_for_selector("#objects .object")
    assert listed_ids(page) == ids
    assert painted(page).any(), "the picture came back from the browser's storage"


def test_keyboard_only_point_and_box(open_page: Any, live_url: str, picture: Path) -> None:
    page = open_page(live_url)
    page.set_input_files("#file", str(picture))
    page.wait_for_selector("#picture:visible")
    page.focus("#canvas-wrap")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("Enter")
    page.wait_for_selector("#steps-list li", state="attached")
    assert "point" in page.text_content("#marks-status")
    page.click("[data-tool=box]")
    page.focus("#canvas-wrap")
    page.keyboard.press("Enter")
    for _ in range(3):
        page.keyboard.press("ArrowRight")
        page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    page.wait_for_selector("#marks rect.box")
    page.keyboard.press("Backspace")
    assert page.locator("#marks rect.box").count() == 0


def test_api_key_asked_once_kept_and_rate_limit_explained(
    open_page: Any, secure_service: tuple[str, str], picture: Path, screenshot: Any
) -> None:
    base_url, secret = secure_service
    page = open_page(base_url)
    page.set_input_files("#file", str(picture))
    page.fill("#prompt", "shape")
    page.click("#run")
    page.wait_for_selector("#key-dialog[open]")
    assert "needs an API key" in page.text_content("#key-message")
    page.fill("#key-input", "sam3_not-a-key")
    page.click("#key-form button[type=submit]")
    page.wait_for_selector("#key-dialog[open] #key-message:has-text('not accepted')")
    screenshot(page, "11-api-key", phone=False)
    page.fill("#key-input", secret)
    page.click("#key-form button[type=submit]")
    page.wait_for_selector("#timing:has-text('ms')")
    assert page.evaluate("localStorage.getItem('sam3.apiKey')") == secret

    page.click("#share")
    page.wait_for_selector("#share-result:visible")
    viewer = open_page(page.input_value("#share-url"))  # no key in this context
    viewer.wait_for_selector("#shared-banner:visible")
    viewer.wait_for_selector("#picture:visible")
    assert viewer.is_hidden("#general-error")

    for x in (120, 160, 200):  # the key allows 3 requests at once: the next one waits
        page.click("#canvas-wrap", position={"x": x, "y": 100})
        if page.is_visible("#general-error"):
            break
        page.wait_for_timeout(400)
    page.wait_for_selector("#general-error:visible")
    assert re.search(r"Please wait \d+ s", page.text_content("#general-error"))
    screenshot(page, "12-rate-limited", phone=False)
    assert page.is_disabled("#run")

    page.reload()
    page.wait_for_selector("#key-button:visible")
    assert not page.is_visible("#key-dialog"), "the key is asked for once, then kept"


def test_the_phone_layout_fits_360_px(open_page: Any, live_url: str, picture: Path) -> None:
    page = open_page(live_url, viewport={"width": 360, "height": 740})
    segment(page, picture)
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.click("#canvas-wrap", position={"x": 100, "y": 60})
    page.wait_for_selector("#steps-list li:nth-child(2)", state="attached")
