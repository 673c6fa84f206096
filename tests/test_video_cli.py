"""`sam3-service segment VIDEO`: track in this process or through a running service."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sam3_service.api.app import create_app
from sam3_service.cli import app
from sam3_service.domain.models import ModelHost
from sam3_service.settings import Settings
from tests.helpers import png_bytes, serve_in_thread
from tests.video_helpers import check_jsonl_frames, decode_frames, make_mp4, read_jsonl

runner = CliRunner()


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    path = tmp_path / "clip.mp4"
    path.write_bytes(make_mp4(10, 80, 60))
    return path


@pytest.fixture
def local_model(tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAM3_MODEL", str(tiny_model_dir))
    monkeypatch.setenv("SAM3_DEVICE", "cpu")
    monkeypatch.setenv("SAM3_DATA_DIR", str(tmp_path / "data"))


def check_video_outputs(out: Path, *, frames: int) -> dict:
    summary = json.loads((out / "clip.json").read_text())
    lines = read_jsonl((out / "clip.jsonl").read_bytes())
    assert summary["frames_processed"] == frames == len(lines)
    check_jsonl_frames(lines, width=80, height=60)
    overlay = decode_frames((out / "clip.overlay.mp4").read_bytes())
    assert len(overlay) == frames and overlay[0].shape == (60, 80, 3)
    return summary


@pytest.mark.usefixtures("local_model")
def test_a_video_and_an_image_in_this_process(clip: Path, tmp_path: Path) -> None:
    picture = tmp_path / "still.png"
    picture.write_bytes(png_bytes(64, 48))
    out = tmp_path / "out"

    args = ["segment", str(clip), str(picture), "-p", "person", "--score-threshold", "0.2"]
    result = runner.invoke(app, [*args, "--out", str(out)])

    assert result.exit_code == 0, result.output
    assert "clip.mp4: " in result.output and "over 10 frames" in result.output
    check_video_outputs(out, frames=10)
    assert (out / "still.json").exists() and (out / "still.overlay.png").exists()


@pytest.mark.usefixtures("local_model")
def test_a_click_on_a_later_frame_with_a_stride(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["segment", str(clip), "--point", "30,30", "--prompt-frame", "4", "--frame-stride", "2"]

    result = runner.invoke(app, [*args, "--out", str(out)])

    assert result.exit_code == 0, result.output
    summary = check_video_outputs(out, frames=5)
    assert {track["id"] for track in summary["tracks"]} <= {1}


@pytest.mark.usefixtures("local_model")
def test_a_refused_video_is_explained(tmp_path: Path) -> None:
    long_clip = tmp_path / "long.mp4"
    long_clip.write_bytes(make_mp4(32, 32, 32, fps=1))

    result = runner.invoke(app, ["segment", str(long_clip), "-p", "cat", "--out", str(tmp_path)])

    assert result.exit_code == 1
    assert "30 s" in result.output


def test_a_video_through_a_running_service(
    clip: Path, tmp_path: Path, api_settings: Settings, shared_host: ModelHost
) -> None:
    out = tmp_path / "out"
    with serve_in_thread(create_app(api_settings, models=shared_host)) as url:
        args = ["segment", str(clip), "--box", "10,10,50,40", "--url", url, "--out", str(out)]
        result = runner.invoke(app, args)

    assert result.exit_code == 0, result.output
    summary = check_video_outputs(out, frames=10)
    assert summary["links"]["overlay_mp4"].endswith("/overlay.mp4")
