"""The tiny random checkpoint loads in every SAM 3 class, like `facebook/sam3`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import transformers
from safetensors.torch import load_file

from sam3_service.inference import build_tiny_model
from sam3_service.inference.tiny import MARKER_FILE, read_marker

MODEL_CLASSES = ["Sam3Model", "Sam3TrackerModel", "Sam3VideoModel", "Sam3TrackerVideoModel"]
PROCESSOR_CLASSES = [
    "Sam3Processor",
    "Sam3TrackerProcessor",
    "Sam3VideoProcessor",
    "Sam3TrackerVideoProcessor",
]


@pytest.mark.parametrize("class_name", MODEL_CLASSES)
def test_every_model_class_loads_every_weight(tiny_model_dir: Path, class_name: str) -> None:
    model_class = getattr(transformers, class_name)
    model, report = model_class.from_pretrained(tiny_model_dir, output_loading_info=True)
    assert report["missing_keys"] == set()
    assert report["unexpected_keys"] == set()
    assert report["mismatched_keys"] == set()
    assert report["error_msgs"] == []
    assert sum(parameter.numel() for parameter in model.parameters()) > 0


@pytest.mark.parametrize("class_name", PROCESSOR_CLASSES)
def test_every_processor_class_loads(tiny_model_dir: Path, class_name: str) -> None:
    processor = getattr(transformers, class_name).from_pretrained(tiny_model_dir)
    config = json.loads((tiny_model_dir / "config.json").read_text())
    side = config["detector_config"]["vision_config"]["backbone_config"]["image_size"]
    assert processor.image_processor.size["height"] == side


def test_tokenizer_is_clip_style(tiny_model_dir: Path) -> None:
    processor = transformers.Sam3Processor.from_pretrained(tiny_model_dir)
    tokenizer = processor.tokenizer
    tokens = tokenizer.convert_ids_to_tokens(tokenizer("A red Zebra!").input_ids)
    assert tokens == ["<|startoftext|>", "a</w>", "red</w>", "zebra</w>", "!</w>", "<|endoftext|>"]
    unseen = tokenizer("xyzzy").input_ids  # no merges for it: byte-level symbols, never unknown
    assert tokenizer.unk_token_id not in unseen[1:-1]
    text_config = json.loads((tiny_model_dir / "config.json").read_text())["detector_config"]
    assert text_config["text_config"]["eos_token_id"] == tokenizer.eos_token_id
    assert text_config["text_config"]["vocab_size"] == len(tokenizer)
    encoding = processor(text="cat", return_tensors="pt")
    assert encoding.input_ids.shape == (1, 32)


def test_marker_says_random(tiny_model_dir: Path) -> None:
    assert read_marker(tiny_model_dir) == {"random": True, "size": "tiny", "seed": 0}


def test_same_seed_same_weights_other_seed_other_weights(tmp_path: Path) -> None:
    first = load_file(build_tiny_model(tmp_path / "a", seed=7) / "model.safetensors")
    again = load_file(build_tiny_model(tmp_path / "b", seed=7) / "model.safetensors")
    other = load_file(build_tiny_model(tmp_path / "c", seed=8) / "model.safetensors")
    assert first.keys() == again.keys() == other.keys()
    assert all(torch.equal(first[name], again[name]) for name in first)
    assert not all(torch.equal(first[name], other[name]) for name in first)


def test_build_does_not_change_global_rng(tmp_path: Path) -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build_tiny_model(tmp_path / "model")
    assert torch.equal(torch.rand(3), expected)


def test_complete_build_is_reused(tmp_path: Path) -> None:
    folder = build_tiny_model(tmp_path / "model")
    written = (folder / "model.safetensors").stat().st_mtime_ns
    assert build_tiny_model(folder) == folder
    assert (folder / "model.safetensors").stat().st_mtime_ns == written
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model"]  # no staging left


def test_other_content_is_not_overwritten(tmp_path: Path) -> None:
    folder = build_tiny_model(tmp_path / "model", seed=1)
    with pytest.raises(FileExistsError):
        build_tiny_model(folder, seed=2)
    (tmp_path / "mine").mkdir()
    with pytest.raises(FileExistsError):
        build_tiny_model(tmp_path / "mine")
    assert json.loads((folder / MARKER_FILE).read_text())["seed"] == 1
