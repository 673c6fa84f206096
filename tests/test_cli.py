"""The `sam3-service` command: build the tiny model, segment in-process and via a service."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from pycocotools import mask as mask_utils
from typer.testing import CliRunner

from sam3_service.api.app import create_app
from sam3_service.cli import app
from sam3_service.domain.models import ModelHost
from sam3_service.settings import Settings
from tests.helpers import png_bytes, serve_in_thread

runner = CliRunner()


@pytest.fixture
def images(tmp_path: Path) -> list[Path]:
    paths = []
    for index, (width, height) in enumerate([(160, 120), (90, 200)]):
        path = tmp_path / f"picture{index}.png"
        path.write_bytes(png_bytes(width, height))
        paths.append(path)
    return paths


def check_outputs(out: Path, image: Path) -> dict:
    result = json.loads((out / f"{image.stem}.json").read_text())
    width, height = Image.open(image).size
    assert (result["image"]["width"], result["image"]["height"]) == (width, height)
    assert Image.open(out / f"{image.stem}.overlay.png").size == (width, height)
    for obj in result["objects"]:
        mask = Image.open(out / f"{image.stem}.mask-{obj['id']}.png")
        assert mask.size == (width, height)
        rle = {"size": obj["rle"]["size"], "counts": obj["rle"]["counts"].encode()}
        assert int(mask_utils.decode(rle).sum()) == obj["area"]
    return result


def test_help_reads_well() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("serve", "segment", "build-tiny-model"):
        assert command in result.output


def test_build_tiny_model_then_segment_in_process(
    tmp_path: Path, images: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    model_dir = tmp_path / "tiny"
    built = runner.invoke(app, ["build-tiny-model", str(model_dir)])
    assert built.exit_code == 0, built.output
    assert (model_dir / "config.json").exists()

    monkeypatch.setenv("SAM3_MODEL", str(model_dir))
    monkeypatch.setenv("SAM3_DEVICE", "cpu")
    out = tmp_path / "out"
    args = [
        "segment",
        *map(str, images),
        "--out",
        str(out),
        "--point",
        "40,50",
        "--point",
        "10,10,neg",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "random" in result.output.lower()
    for image in images:
        assert len(check_outputs(out, image)["objects"]) == 1


def test_segment_against_a_running_service(
    tmp_path: Path, images: list[Path], api_settings: Settings, shared_host: ModelHost
) -> None:
    out = tmp_path / "out"
    with serve_in_thread(create_app(api_settings, models=shared_host)) as url:
        args = ["segment", str(images[0]), "--prompt", "cat", "--out", str(out), "--url", url]
        result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    check_outputs(out, images[0])


def test_bad_arguments_are_explained(tmp_path: Path, images: list[Path]) -> None:
    result = runner.invoke(app, ["segment", str(images[0]), "--out", str(tmp_path), "--box", "1,2"])
    assert result.exit_code != 0
    assert "--box" in result.output
    chinese = runner.invoke(app, ["segment", str(images[0]), "--out", str(tmp_path), "-p", "猫"])
    assert chinese.exit_code != 0
    assert "English" in chinese.output


def test_a_failing_image_does_not_stop_the_others(
    tmp_path: Path, images: list[Path], monkeypatch: pytest.MonkeyPatch, tiny_model_dir: Path
) -> None:
    monkeypatch.setenv("SAM3_MODEL", str(tiny_model_dir))
    monkeypatch.setenv("SAM3_DEVICE", "cpu")
    out = tmp_path / "out"
    # picture1 is 90 px wide: the point falls outside it, not outside picture0 (160 px).
    args = ["segment", str(images[1]), str(images[0]), "--point", "120,50", "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert "picture1.png" in result.output and "outside" in result.output
    assert "1 of 2 files failed" in result.output
    assert len(check_outputs(out, images[0])["objects"]) == 1
    assert not (out / "picture1.json").exists()


def test_missing_weights_fall_back_to_the_tiny_model_as_in_make_serve(
    tmp_path: Path, images: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAM3_MODEL", str(tmp_path / "no-such-model"))
    monkeypatch.setenv("SAM3_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("SAM3_DEVICE", "cpu")
    monkeypatch.chdir(tmp_path)
    args = ["segment", str(images[0]), "--point", "40,50", "--out", str(tmp_path / "out")]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "RANDOM" in result.output

    monkeypatch.setenv("SAM3_MODEL_FALLBACK_TO_TINY", "false")
    refused = subprocess.run(
        [sys.executable, "-m", "sam3_service", *args], capture_output=True, text=True, timeout=120
    )
    assert refused.returncode == 1
    assert refused.stderr.count("Cannot load the SAM 3 model") == 1, refused.stderr  # said once


def test_serve_with_a_broker_names_no_model_it_does_not_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sam3_service.api import server

    served: list[object] = []
    monkeypatch.setattr(server, "run", lambda app, settings: served.append(app))
    monkeypatch.setenv("SAM3_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
    monkeypatch.setenv("SAM3_MODEL", "facebook/sam3")
    monkeypatch.setenv("SAM3_MODEL_FALLBACK_TO_TINY", "true")
    monkeypatch.setenv("SAM3_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SAM3_LOG_FORMAT", "text")  # the banner a person reads
    result = runner.invoke(app, ["serve"])
    assert result.exit_code == 0, result.output
    assert len(served) == 1
    assert "the workers (`sam3-service worker`) run the model" in result.output
    assert "model:" not in result.output and "tiny-random" not in result.output
