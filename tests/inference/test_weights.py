"""Sam3Weights: one copy of the weights for every head, and nothing shared between two loads."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import transformers

from sam3_service.errors import ConfigError, ModelNotReady
from sam3_service.inference import Sam3Engine
from sam3_service.inference.weights import load_weights


def count(model: torch.nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters())


def test_engine_holds_one_copy_of_the_weights(engine: Sam3Engine, tiny_model_dir: Path) -> None:
    def storages(module: torch.nn.Module) -> set[int]:
        return {p.untyped_storage().data_ptr() for p in module.parameters()}

    owned = storages(engine.weights.video)
    assert storages(engine.weights.detector) <= owned
    assert storages(engine.weights.tracker) <= owned
    separate = [
        getattr(transformers, name).from_pretrained(tiny_model_dir)
        for name in ("Sam3Model", "Sam3TrackerModel", "Sam3VideoModel")
    ]
    assert count(engine.weights.video) == count(separate[2])
    assert sum(count(model) for model in separate) > 1.5 * count(engine.weights.video)


def test_two_loads_share_nothing_and_release_alone(tiny_model_dir: Path) -> None:
    first, second = (load_weights(tiny_model_dir, device="cpu") for _ in range(2))
    assert first.lock is not second.lock
    shared = {p.untyped_storage().data_ptr() for p in first.video.parameters()}
    assert not shared & {p.untyped_storage().data_ptr() for p in second.video.parameters()}

    with first.lock:
        first.release()

    with pytest.raises(ModelNotReady):
        _ = first.detector
    assert second.tracker.mask_decoder is second.video.tracker_model.mask_decoder


def test_a_missing_folder_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="processor"):
        load_weights(tmp_path / "nothing", device="cpu")
