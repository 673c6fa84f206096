"""One loaded SAM 3 checkpoint: its models, processors, device, dtype and the lock that guards them.

The image engine and the video sessions both receive a `Sam3Weights` and read the models through
it; only `load_weights` loads them. Two `Sam3Weights` (two model versions) live side by side in
one process and share nothing, not even their lock.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import torch
from transformers import (
    BatchEncoding,
    PreTrainedConfig,
    Sam3Model,
    Sam3Processor,
    Sam3TrackerConfig,
    Sam3TrackerModel,
    Sam3TrackerProcessor,
    Sam3TrackerVideoProcessor,
    Sam3VideoModel,
    Sam3VideoProcessor,
)

from ..errors import ConfigError, ModelNotReady

__all__ = ["Sam3Weights", "load_weights"]


@dataclass
class _Models:
    video: Sam3VideoModel
    detector: Sam3Model
    tracker: Sam3TrackerModel


class Sam3Weights:
    """`Sam3VideoModel`, loaded once, and the two image heads made of its modules.

    Its `detector_model` (a `Sam3Model`) answers concept prompts; a `Sam3TrackerModel` assembled
    from its modules answers clicks, boxes and masks. `lock` is held by each model run, so one
    runs at a time. After `release()` the models raise ModelNotReady.
    """

    def __init__(
        self,
        video: Sam3VideoModel,
        processor: Sam3VideoProcessor,
        device: torch.device,
        dtype: torch.dtype,
    ) -> None:
        self.device, self.dtype = device, dtype
        self.lock = threading.Lock()
        self.video_processor = processor
        image_processor = processor.image_processor
        self.processor = Sam3Processor(image_processor, processor.tokenizer)
        self.tracker_processor = Sam3TrackerProcessor(image_processor)
        self.tracker_video_processor = Sam3TrackerVideoProcessor(
            image_processor, processor.video_processor
        )
        config = video.detector_model.config
        vit = config.vision_config.backbone_config
        self.image_size: int = vit.image_size
        self.grid: int = vit.image_size // vit.patch_size
        self.max_text_tokens: int = config.text_config.max_position_embeddings
        self._models: _Models | None = _Models(
            video, video.detector_model, _assemble_tracker(video)
        )

    @property
    def video(self) -> Sam3VideoModel:
        """The loaded `Sam3VideoModel`, owner of every weight."""
        return self._loaded().video

    @property
    def detector(self) -> Sam3Model:
        """The concept head: the video model's `detector_model`."""
        return self._loaded().detector

    @property
    def tracker(self) -> Sam3TrackerModel:
        """The interactive head, made of the video model's modules."""
        return self._loaded().tracker

    def check_loaded(self) -> None:
        """Raise ModelNotReady once the models are released."""
        self._loaded()

    def release(self) -> None:
        """Drop the models; call under `lock`. Idempotent."""
        self._models = None

    def on_device(self, inputs: BatchEncoding) -> dict[str, torch.Tensor]:
        """Model inputs on the model's device; floats in its dtype. Drops `original_sizes`."""
        placed = {}
        for key, value in inputs.items():
            if key != "original_sizes":
                dtype = self.dtype if value.is_floating_point() else None
                placed[key] = value.to(self.device, dtype)
        return placed

    def spatial(self, hidden: torch.Tensor) -> torch.Tensor:
        """(batch, tokens, channels) ViT output as the (batch, channels, grid, grid) map."""
        return hidden.view(hidden.shape[0], self.grid, self.grid, -1).permute(0, 3, 1, 2)

    def _loaded(self) -> _Models:
        if self._models is None:
            raise ModelNotReady("the SAM 3 engine is closed")
        return self._models


def load_weights(folder: Path, *, device: str = "auto", attention: str = "sdpa") -> Sam3Weights:
    """Load a checkpoint folder on `device` (`auto`: the GPU in bfloat16 when there is one, else
    the CPU in float32) with transformers' `attention` kernels. Raises ConfigError."""
    placed, dtype = _placement(device)
    processor = _load_processor(Path(folder))
    video = _load_video_model(Path(folder), placed, dtype, attention)
    return Sam3Weights(video, processor, placed, dtype)


def _placement(device: str) -> tuple[torch.device, torch.dtype]:
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device not in ("cpu", "cuda"):
        raise ConfigError(f"unknown device {device!r}: use auto, cpu or cuda")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' was asked for but no CUDA GPU is visible: use auto or cpu")
    return torch.device(device), torch.bfloat16 if device == "cuda" else torch.float32


def _load_processor(folder: Path) -> Sam3VideoProcessor:
    """The checkpoint's processor: image and video preprocessing and the tokenizer."""
    try:
        return Sam3VideoProcessor.from_pretrained(folder)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot load the SAM 3 processor from {folder}: {exc}") from exc


def _load_video_model(
    folder: Path, device: torch.device, dtype: torch.dtype, attention: str
) -> Sam3VideoModel:
    """Load every weight once; a checkpoint that leaves any weight random is refused."""
    try:
        loaded = Sam3VideoModel.from_pretrained(
            folder, dtype=dtype, output_loading_info=True, attn_implementation=attention
        )
        model, report = cast(tuple[Sam3VideoModel, dict[str, Any]], loaded)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot load SAM 3 from {folder}: {exc}") from exc
    missing = sorted(report["missing_keys"])
    if missing:
        raise ConfigError(
            f"{folder} is not a complete SAM 3 checkpoint: {len(missing)} weights of "
            f"Sam3VideoModel are missing (first: {missing[0]}). Use one laid out like "
            "facebook/sam3."
        )
    # transformers wraps `Module.to` in a way that hides its signature from type checkers
    return model.to(device).eval()  # type: ignore[arg-type]


def _assemble_tracker(video: Sam3VideoModel) -> Sam3TrackerModel:
    """A `Sam3TrackerModel` whose modules are the video model's: it owns no weight.

    It is what `Sam3TrackerModel.from_pretrained` builds from the same checkpoint: the
    detector's ViT, `tracker_neck`, and the tracker's prompt encoder and mask decoder.
    """
    tracker_config = cast(PreTrainedConfig, video.config.tracker_config)
    config = Sam3TrackerConfig(**tracker_config.to_dict())
    with torch.device("meta"):  # built without memory, then every module is replaced
        tracker = Sam3TrackerModel(config)
    tracker.vision_encoder.backbone = video.detector_model.vision_encoder.backbone
    tracker.vision_encoder.neck = video.tracker_neck
    tracker.shared_image_embedding = video.tracker_model.shared_image_embedding
    tracker.prompt_encoder = video.tracker_model.prompt_encoder
    tracker.mask_decoder = video.tracker_model.mask_decoder
    tracker.no_memory_embedding = video.tracker_model.no_memory_embedding
    tensors = [*tracker.named_parameters(), *tracker.named_buffers()]
    leftover = [name for name, tensor in tensors if tensor.is_meta]
    if leftover:
        raise RuntimeError(f"tracker assembly left {leftover[:3]} unshared: transformers changed")
    return tracker.eval()
