"""Build randomly initialised SAM 3 checkpoints that load exactly like `facebook/sam3`.

A real model with random weights, for development, tests and benchmarks: never a fake engine.
"""

from __future__ import annotations

import json
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import torch
from safetensors.torch import save_file
from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers
from transformers import (
    CLIPTextConfig,
    CLIPTokenizer,
    Sam3Config,
    Sam3ImageProcessor,
    Sam3VideoConfig,
    Sam3VideoModel,
    Sam3VideoProcessor,
)
from transformers.models.sam2_video.video_processing_sam2_video import Sam2VideoVideoProcessor

__all__ = ["MARKER_FILE", "ModelSize", "build_tiny_model", "read_marker"]

MARKER_FILE = "sam3_service.json"
ModelSize = Literal["tiny", "mid", "full"]

_BOS, _EOS = "<|startoftext|>", "<|endoftext|>"
# CLIP's pre-tokenizer: words, single digits and punctuation runs, then byte-level symbols.
_CLIP_SPLIT = (
    r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|"""
    r"""[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""
)
# Words the BPE learns merges from; any other text still tokenizes, byte by byte.
_CORPUS = (
    "person bicycle car motorcycle airplane bus train truck boat traffic light fire hydrant "
    "stop sign bench bird cat dog horse sheep cow elephant bear zebra giraffe backpack "
    "umbrella handbag tie suitcase frisbee skis snowboard ball kite bat glove skateboard "
    "surfboard racket bottle wine glass cup fork knife spoon bowl banana apple sandwich "
    "orange broccoli carrot pizza donut cake chair couch plant bed table toilet tv laptop "
    "mouse remote keyboard phone microwave oven toaster sink refrigerator book clock vase "
    "scissors teddy hair drier toothbrush visual red green blue white black yellow small "
    "large left right the a of with on in"
).split()


@dataclass(frozen=True)
class _Shape:
    """The knobs that set a random model's size; everything else keeps the library default."""

    image_size: int
    vit_hidden: int
    vit_layers: int
    vit_heads: int
    vit_window: int
    vit_global: tuple[int, ...]  # layers with global attention, the others are windowed
    width: int  # FPN, geometry/DETR/mask decoders and the tracker
    decoder_mlp: int
    text_hidden: int
    text_layers: int
    detr_layers: int
    queries: int


_SHAPES: dict[str, _Shape] = {
    # fast tests: a forward well under 0.2 s on a CPU
    "tiny": _Shape(
        image_size=224, vit_hidden=64, vit_layers=2, vit_heads=2, vit_window=8, vit_global=(1,),
        width=128, decoder_mlp=256, text_hidden=64, text_layers=1, detr_layers=1, queries=16,
    ),
    # benchmarks: as in SAM 3, the image encoder is most of a forward
    "mid": _Shape(
        image_size=560, vit_hidden=384, vit_layers=12, vit_heads=6, vit_window=10,
        vit_global=(2, 5, 8, 11), width=128, decoder_mlp=512, text_hidden=128, text_layers=2,
        detr_layers=1, queries=50,
    ),
}  # fmt: skip


def read_marker(folder: Path) -> dict[str, Any] | None:
    """The marker a random build leaves in its folder, or None for a real checkpoint."""
    path = folder / MARKER_FILE
    if not path.is_file():
        return None
    marker: dict[str, Any] = json.loads(path.read_text())
    return marker


def build_tiny_model(folder: Path, *, size: ModelSize = "tiny", seed: int = 0) -> Path:
    """Write a random SAM 3 checkpoint that every SAM 3 class and processor loads completely.

    The build happens in a temporary sibling folder renamed into place, so `folder` is either
    absent or complete. A complete build of the same size and seed is reused as it is.
    Raises FileExistsError if `folder` holds anything else.
    """
    folder = Path(folder)
    marker = {"random": True, "size": size, "seed": seed}
    if folder.exists():
        return _reuse(folder, marker)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = folder.with_name(f".{folder.name}.{uuid.uuid4().hex}.tmp")
    try:
        _write_checkpoint(staging, size, seed)
        (staging / MARKER_FILE).write_text(json.dumps(marker))
        staging.rename(folder)
    except OSError:
        if not folder.exists():  # a failed build, not a concurrent one that won the race
            raise
        return _reuse(folder, marker)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def _reuse(folder: Path, marker: dict[str, Any]) -> Path:
    if read_marker(folder) != marker:
        raise FileExistsError(f"{folder} exists and is not a random SAM 3 build with {marker}")
    return folder


def _write_checkpoint(folder: Path, size: ModelSize, seed: int) -> None:
    folder.mkdir()
    tokenizer = _clip_tokenizer()
    config = _video_config(size, tokenizer)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Sam3VideoModel(config)
    config.save_pretrained(folder)
    # Not `model.save_pretrained`: it doubles the tracker prefix, and Sam3TrackerModel then
    # loads its prompt encoder and mask decoder at random without failing.
    weights = {name: tensor.contiguous() for name, tensor in model.state_dict().items()}
    save_file(weights, str(folder / "model.safetensors"), metadata={"format": "pt"})
    _processor(config.image_size, tokenizer).save_pretrained(folder)


def _clip_tokenizer() -> CLIPTokenizer:
    """A CLIP tokenizer (same normalizer, pre-tokenizer and specials) with a small vocabulary."""
    trainer = trainers.BpeTrainer(
        vocab_size=4096,  # more than the corpus offers: learn every merge
        show_progress=False,
        special_tokens=[_BOS, _EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        end_of_word_suffix="</w>",
    )
    bpe = Tokenizer(models.BPE(end_of_word_suffix="</w>"))
    bpe.normalizer = normalizers.Sequence([normalizers.NFC(), normalizers.Lowercase()])
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_CLIP_SPLIT), behavior="removed", invert=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False),
        ]
    )
    bpe.train_from_iterator(_CORPUS, trainer)
    merges = [(a, b) for a, b in json.loads(bpe.to_str())["model"]["merges"]]
    # As CLIP does: every byte symbol alone and word-final, then the merges, then specials.
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    symbols = alphabet + [f"{s}</w>" for s in alphabet] + [a + b for a, b in merges]
    vocab = {token: i for i, token in enumerate(dict.fromkeys([*symbols, _BOS, _EOS]))}
    # BPE takes merges as pairs, which CLIPTokenizer's annotation (str | list[str]) omits.
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=32)  # type: ignore[arg-type]


def _video_config(size: ModelSize, tokenizer: CLIPTokenizer) -> Sam3VideoConfig:
    config = Sam3VideoConfig() if size == "full" else _scaled_config(_SHAPES[size])
    text = _text_config(config)
    text.bos_token_id = tokenizer.bos_token_id
    text.eos_token_id = tokenizer.eos_token_id
    text.pad_token_id = tokenizer.pad_token_id
    if size != "full":
        text.vocab_size = len(tokenizer)
    config.architectures = ["Sam3VideoModel"]
    return config


def _text_config(config: Sam3VideoConfig) -> CLIPTextConfig:
    """The CLIP text encoder's config, inside the detector's."""
    detector = cast(Sam3Config, config.detector_config)
    return cast(CLIPTextConfig, detector.text_config)


def _scaled_config(shape: _Shape) -> Sam3VideoConfig:
    patch = 14
    grid = shape.image_size // patch
    width = shape.width
    heads = max(1, width // 64)
    layers = shape.detr_layers
    vision = {
        "model_type": "sam3_vision_model",
        "fpn_hidden_size": width,
        "backbone_feature_sizes": [[4 * grid, 4 * grid], [2 * grid, 2 * grid], [grid, grid]],
        "backbone_config": {
            "model_type": "sam3_vit_model",
            "hidden_size": shape.vit_hidden,
            "intermediate_size": 4 * shape.vit_hidden,
            "num_hidden_layers": shape.vit_layers,
            "num_attention_heads": shape.vit_heads,
            "image_size": shape.image_size,
            "pretrain_image_size": shape.image_size,
            "patch_size": patch,
            "window_size": shape.vit_window,
            "global_attn_indexes": list(shape.vit_global),
        },
    }
    text = {
        "model_type": "clip_text_model",
        "hidden_size": shape.text_hidden,
        "intermediate_size": 4 * shape.text_hidden,
        "projection_dim": shape.text_hidden,
        "num_hidden_layers": shape.text_layers,
        "num_attention_heads": max(1, shape.text_hidden // 64),
        "max_position_embeddings": 32,
        "hidden_act": "gelu",
    }
    block = {
        "hidden_size": width,
        "num_attention_heads": heads,
        "intermediate_size": shape.decoder_mlp,
    }
    detector = {
        "model_type": "sam3",
        "vision_config": vision,
        "text_config": text,
        "geometry_encoder_config": {**block, "num_layers": layers},
        "detr_encoder_config": {**block, "num_layers": layers},
        "detr_decoder_config": {**block, "num_layers": layers, "num_queries": shape.queries},
        "mask_decoder_config": {"hidden_size": width, "num_attention_heads": heads},
    }
    tracker = {
        "model_type": "sam3_tracker_video",
        "vision_config": vision,
        "prompt_encoder_config": {"hidden_size": width, "patch_size": patch},
        "mask_decoder_config": {
            "hidden_size": width,
            "mlp_dim": shape.decoder_mlp,
            "num_attention_heads": heads,
            "iou_head_hidden_dim": width,
        },
        "memory_attention_hidden_size": width,
        "memory_attention_num_layers": layers,
        "memory_attention_feed_forward_hidden_size": shape.decoder_mlp,
        "memory_encoder_hidden_size": width,
        "memory_encoder_output_channels": 64,  # a memory cross-attention hard-codes 64
        "mask_downsampler_embed_dim": width,
        "memory_fuser_embed_dim": width,
        "memory_fuser_intermediate_dim": 4 * width,
    }
    config = Sam3VideoConfig(detector_config=detector, tracker_config=tracker)
    config.image_size = shape.image_size  # propagates to every sub-config and feature size
    return config


def _processor(image_size: int, tokenizer: CLIPTokenizer) -> Sam3VideoProcessor:
    mask_side = 4 * (image_size // 14)
    square = {"height": image_size, "width": image_size}
    return Sam3VideoProcessor(
        image_processor=Sam3ImageProcessor(
            size=square, mask_size={"height": mask_side, "width": mask_side}
        ),
        video_processor=Sam2VideoVideoProcessor(
            image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5], size=square
        ),
        tokenizer=tokenizer,
    )
