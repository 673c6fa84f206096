"""resolve_model and load_engine: tiny-random, local folders, the local Hugging Face cache."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from safetensors.torch import load_file, save_file

from sam3_service.errors import ConfigError
from sam3_service.inference import load_engine, resolve_model

FIX_HINTS = ("SAM3_MODEL=/path", "hf download", "hf auth login", "SAM3_MODEL=tiny-random")


def assert_explains_the_fix(error: ConfigError) -> None:
    for hint in FIX_HINTS:
        assert hint in error.message


def test_tiny_random_is_built_once_then_reused(tmp_path: Path) -> None:
    first = resolve_model("tiny-random", tmp_path)
    written = (first.path / "model.safetensors").stat().st_mtime_ns
    second = resolve_model("tiny-random", tmp_path)
    assert first == second
    assert first.path == (tmp_path / "tiny-random").resolve()
    assert (first.name, first.random) == ("tiny-random", True)
    assert (second.path / "model.safetensors").stat().st_mtime_ns == written


def test_local_folder(tiny_model_dir: Path, tmp_path: Path) -> None:
    source = resolve_model(str(tiny_model_dir), tmp_path)
    assert source.path == tiny_model_dir.resolve()
    assert source.name == tiny_model_dir.name
    assert source.random is True
    assert len(source.version) == 12
    assert resolve_model(str(tiny_model_dir), tmp_path).version == source.version


def test_version_changes_with_the_weights(tiny_model_dir: Path, tmp_path: Path) -> None:
    copy = Path(shutil.copytree(tiny_model_dir, tmp_path / "copy"))
    before = resolve_model(str(copy), tmp_path).version
    with (copy / "model.safetensors").open("ab") as weights:
        weights.write(b"\0")
    assert resolve_model(str(copy), tmp_path).version != before


def test_equal_weights_are_equal_versions_wherever_they_lie(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    copy = Path(shutil.copytree(tiny_model_dir, tmp_path / "copy"))
    for path in copy.iterdir():
        os.utime(path, (1, 1))  # another machine's copy: other modification times
    assert resolve_model(str(copy), tmp_path).version == (
        resolve_model(str(tiny_model_dir), tmp_path).version
    )


def test_real_checkpoint_is_not_random(tiny_model_dir: Path, tmp_path: Path) -> None:
    copy = Path(shutil.copytree(tiny_model_dir, tmp_path / "copy"))
    (copy / "sam3_service.json").unlink()
    assert resolve_model(str(copy), tmp_path).random is False


def test_missing_folder_explains_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_model(str(tmp_path / "absent"), tmp_path)
    assert "there is no folder" in caught.value.message
    assert_explains_the_fix(caught.value)


def test_folder_without_config(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError) as caught:
        resolve_model(str(tmp_path / "empty"), tmp_path)
    assert "no config.json" in caught.value.message
    assert_explains_the_fix(caught.value)


def test_hub_id_not_in_cache_explains_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_model("facebook/sam3", tmp_path, hf_cache_dir=tmp_path / "hub")
    assert "not in the local Hugging Face cache" in caught.value.message
    assert_explains_the_fix(caught.value)
    assert "https://huggingface.co/facebook/sam3" in caught.value.message


def test_hub_id_in_cache(tiny_model_dir: Path, tmp_path: Path) -> None:
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--someone--sam3-copy"
    shutil.copytree(tiny_model_dir, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    source = resolve_model("someone/sam3-copy", tmp_path, hf_cache_dir=tmp_path / "hub")
    assert source.name == "someone/sam3-copy"
    assert source.version == commit[:12]
    assert source.path == (repo / "snapshots" / commit).resolve()


def test_unknown_device_is_a_config_error(tiny_model_dir: Path) -> None:
    with pytest.raises(ConfigError, match="unknown device"):
        load_engine(str(tiny_model_dir), models_dir=tiny_model_dir.parent, device="tpu")


def test_incomplete_checkpoint_is_refused(tiny_model_dir: Path, tmp_path: Path) -> None:
    """Weights missing from the file would be left random (the library only warns): refuse."""
    copy = Path(shutil.copytree(tiny_model_dir, tmp_path / "copy"))
    weights = load_file(copy / "model.safetensors")
    kept = {name: tensor for name, tensor in weights.items() if not name.startswith("tracker_")}
    save_file(kept, copy / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ConfigError, match="not a complete SAM 3 checkpoint"):
        load_engine(str(copy), models_dir=tmp_path, device="cpu")
