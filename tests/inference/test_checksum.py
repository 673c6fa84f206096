"""A model's version comes from its content: copies agree, any changed byte disagrees."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from sam3_service.errors import ConfigError
from sam3_service.inference.checksum import hub_revision, model_fingerprint, model_version

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def copy(tiny_model_dir: Path, tmp_path: Path) -> Path:
    """A copy of the tiny model elsewhere, every file touched to another time."""
    folder = Path(shutil.copytree(tiny_model_dir, tmp_path / "elsewhere" / "renamed"))
    for path in folder.iterdir():
        os.utime(path, (1_000_000_000, 1_000_000_000))
    return folder


def flip_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_copy_touched_elsewhere_has_the_same_version(tiny_model_dir: Path, copy: Path) -> None:
    original = model_fingerprint(tiny_model_dir)
    assert model_fingerprint(copy) == original
    assert model_version(copy) == model_version(tiny_model_dir) == original.version
    assert len(original.checksum) == 64 and original.revision is None


def test_one_changed_byte_of_the_weights_changes_the_version(
    tiny_model_dir: Path, copy: Path
) -> None:
    flip_last_byte(copy / "model.safetensors")
    assert model_version(copy) != model_version(tiny_model_dir)


def test_a_changed_configuration_changes_the_version(tiny_model_dir: Path, copy: Path) -> None:
    config = copy / "config.json"
    config.write_text(config.read_text().replace("{", '{"extra": 1, ', 1))
    assert model_version(copy) != model_version(tiny_model_dir)


def test_files_that_are_not_content_do_not_count(tiny_model_dir: Path, copy: Path) -> None:
    (copy / "README.md").write_text("notes")
    (copy / ".cache").mkdir()
    (copy / ".cache" / "download.json").write_text("{}")
    assert model_version(copy) == model_version(tiny_model_dir)


def test_a_renamed_weights_file_is_another_version(tiny_model_dir: Path, copy: Path) -> None:
    (copy / "model.safetensors").rename(copy / "model-00001.safetensors")
    assert model_version(copy) != model_version(tiny_model_dir)


def test_a_hub_snapshot_is_versioned_by_its_commit(tiny_model_dir: Path, tmp_path: Path) -> None:
    snapshot = tmp_path / "hub" / "models--org--sam3" / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    for path in tiny_model_dir.iterdir():  # the cache links each file to its blob
        (snapshot / path.name).symlink_to(path)
    assert hub_revision(snapshot) == COMMIT
    assert model_version(snapshot) == COMMIT[:12]
    fingerprint = model_fingerprint(snapshot)
    assert fingerprint.revision == COMMIT and fingerprint.version == COMMIT[:12]
    assert fingerprint.checksum == model_fingerprint(tiny_model_dir).checksum


def test_a_folder_named_like_a_commit_outside_the_cache_is_local(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    folder = Path(shutil.copytree(tiny_model_dir, tmp_path / "snapshots" / COMMIT))
    assert hub_revision(folder) is None
    assert model_version(folder) == model_version(tiny_model_dir)


def test_a_folder_without_weights_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ConfigError, match="no \\*.safetensors"):
        model_version(tmp_path)
    with pytest.raises(ConfigError, match="not a model folder"):
        model_fingerprint(tmp_path / "missing")
