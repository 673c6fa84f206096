"""The weights' memory, read from safetensors headers: as stored, or in the dtype of the load."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import pytest

from sam3_service.errors import ConfigError
from sam3_service.inference.footprint import weights_bytes


def write_safetensors(path: Path, header: dict[str, object], data: bytes = b"") -> None:
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)


def test_the_tiny_model_takes_its_tensors_bytes(tiny_model_dir: Path) -> None:
    weights = tiny_model_dir / "model.safetensors"
    (header_size,) = struct.unpack("<Q", weights.read_bytes()[:8])
    stored = weights.stat().st_size - 8 - header_size  # float32 tensors, back to back
    assert weights_bytes(tiny_model_dir) == weights_bytes(tiny_model_dir, "float32") == stored
    assert weights_bytes(tiny_model_dir, "bfloat16") == stored // 2


def test_only_floating_tensors_change_with_the_dtype(tmp_path: Path) -> None:
    write_safetensors(
        tmp_path / "model.safetensors",
        {
            "__metadata__": {"format": "pt"},
            "w": {"dtype": "BF16", "shape": [10, 4], "data_offsets": [0, 80]},
            "ids": {"dtype": "I64", "shape": [3], "data_offsets": [80, 104]},
            "scalar": {"dtype": "F32", "shape": [], "data_offsets": [104, 108]},
        },
    )
    assert weights_bytes(tmp_path) == 80 + 24 + 4
    assert weights_bytes(tmp_path, "float32") == 160 + 24 + 4


def test_pickled_weights_count_by_their_size(tiny_model_dir: Path, tmp_path: Path) -> None:
    folder = Path(shutil.copytree(tiny_model_dir, tmp_path / "m"))
    (folder / "pytorch_model.bin").write_bytes(b"\0" * 1000)
    assert weights_bytes(folder) == weights_bytes(tiny_model_dir) + 1000


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xff" * 4, "not a safetensors file"),
        (struct.pack("<Q", 4) + b"\xff\xfe{}", "damaged"),
        (struct.pack("<Q", 2) + b"{}", None),
    ],
)
def test_a_damaged_file_is_a_config_error(
    tmp_path: Path, content: bytes, message: str | None
) -> None:
    (tmp_path / "model.safetensors").write_bytes(content)
    if message is None:
        assert weights_bytes(tmp_path) == 0
        return
    with pytest.raises(ConfigError, match=message):
        weights_bytes(tmp_path)


def test_what_cannot_be_counted_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no \\*.safetensors"):
        weights_bytes(tmp_path)
    write_safetensors(tmp_path / "model.safetensors", {"w": {"dtype": "C64", "shape": [1]}})
    with pytest.raises(ConfigError, match="unknown dtype"):
        weights_bytes(tmp_path)
    with pytest.raises(ConfigError, match="dtype must be"):
        weights_bytes(tmp_path, "int8")
