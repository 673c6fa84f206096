"""The SAM 3 engine: one copy of the weights answers concept and interactive prompts."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import torch
from PIL import Image
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
from transformers.modeling_outputs import BaseModelOutputWithPooling
from transformers.models.sam3.modeling_sam3 import Sam3VisionEncoderOutput

from ..errors import ConfigError, InvalidInput, ModelNotReady
from .base import (
    Detection,
    EngineStats,
    ModelInfo,
    Prompt,
    PromptMode,
    Segmentation,
    Thresholds,
    VideoPrompt,
    VideoSession,
)
from .batching import Arrival, Batcher
from .feature_cache import FeatureCache, count_one
from .postprocess import bounding_box, logit, ranked_detections
from .prompt_checks import check_prompt
from .video import open_video_session

__all__ = ["STAGES", "Sam3Engine"]

STAGES = ("preprocess", "encode_image", "encode_prompt", "decode", "postprocess")
_GPU_BATCH_WINDOW_MS = 5.0  # the default wait for a batch on a GPU; on the CPU, no batching
_MASK_PROMPT_LOGIT = 10.0  # a bool mask prompt enters as logits of +-10, SAM 2's scale for masks


@dataclass
class _Heads:
    video: Sam3VideoModel
    detector: Sam3Model
    tracker: Sam3TrackerModel


class Sam3Engine:
    """SAM 3 through `transformers`, with a single copy of the weights.

    `Sam3VideoModel` is loaded once. Its `detector_model` (a `Sam3Model`) answers concept
    prompts; a `Sam3TrackerModel` assembled from its modules answers clicks, boxes and masks.
    Both heads read the same ViT backbone, whose output is cached per image. Concurrent
    calls for images not in the cache share one batched run of the backbone: a call waits up
    to `batch_window_ms` for the others, `max_batch` images at most (None: 5 ms on a GPU, no
    batching on the CPU). `compile_vision` (None: on a GPU) runs the backbone through
    `torch.compile` with static shapes; `attention` picks transformers' attention kernels.
    """

    def __init__(
        self,
        folder: Path,
        *,
        name: str,
        version: str,
        random: bool,
        device: str = "auto",
        vision_cache_bytes: int = 1 << 30,
        text_cache_entries: int = 1024,
        batch_window_ms: float | None = None,
        max_batch: int = 8,
        compile_vision: bool | None = None,
        attention: str = "sdpa",
    ) -> None:
        self.device, self.dtype = _placement(device)
        self.video_processor = _load_processor(Path(folder))
        video = _load_video_model(Path(folder), self.device, self.dtype, attention)
        self._heads: _Heads | None = _Heads(video, video.detector_model, _assemble_tracker(video))
        image_processor = self.video_processor.image_processor
        self.processor = Sam3Processor(image_processor, self.video_processor.tokenizer)
        self.tracker_processor = Sam3TrackerProcessor(image_processor)
        self.tracker_video_processor = Sam3TrackerVideoProcessor(
            image_processor, self.video_processor.video_processor
        )
        vit = video.detector_model.config.vision_config.backbone_config
        self._grid = vit.image_size // vit.patch_size
        self._max_tokens = video.detector_model.config.text_config.max_position_embeddings
        self.info = ModelInfo(
            name=name,
            version=version,
            random=random,
            device=str(self.device),
            dtype=str(self.dtype).removeprefix("torch."),
        )
        self.stats = EngineStats()
        # Per image: the ViT output `(hidden,)` and each head's neck output, by bytes.
        self._vision_cache: FeatureCache[Sequence[torch.Tensor]] = FeatureCache(vision_cache_bytes)
        self._text_cache: FeatureCache[torch.Tensor] = FeatureCache(
            text_cache_entries, weigh=count_one
        )
        self._lock = threading.Lock()
        gpu = self.device.type == "cuda"
        window_ms = (
            (_GPU_BATCH_WINDOW_MS if gpu else 0.0) if batch_window_ms is None else batch_window_ms
        )
        self.max_batch = max_batch if window_ms > 0 else 1
        self._batcher: Batcher[tuple[str, torch.Tensor], torch.Tensor] = Batcher(
            self._encode_batch, lock=self._lock, window_s=window_ms / 1000, max_batch=self.max_batch
        )
        backbone = video.detector_model.vision_encoder.backbone
        self._compiled = gpu if compile_vision is None else compile_vision
        self._vit: Callable[[torch.Tensor], Any] = (
            torch.compile(backbone, dynamic=False) if self._compiled else backbone
        )
        if self._compiled:  # compile now, so that the first request does not wait for it
            side = vit.image_size
            with torch.inference_mode():
                self._vit(torch.zeros(1, 3, side, side, device=self.device, dtype=self.dtype))

    @property
    def video_model(self) -> Sam3VideoModel:
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

    @property
    def lock(self) -> threading.Lock:
        """Held by each inference; a video session holds it for one frame at a time."""
        return self._lock

    def segment(
        self, image: Image.Image, image_sha256: str, prompt: Prompt, thresholds: Thresholds
    ) -> Segmentation:
        """Segment an RGB image. Raises InvalidInput for a prompt the model cannot take."""
        mode = prompt.resolved_mode()
        width, height = image.size
        check_prompt(prompt, mode, width, height)
        timer = _Timer(self.device)
        concept = mode is PromptMode.CONCEPT
        head = "detector" if concept else "tracker"
        with torch.inference_mode():
            with self._batcher.arrival() as arrival:
                features = self._vision_cache.get((image_sha256, head))
                hidden, hit = (
                    (None, True)
                    if features is not None
                    else self._backbone(image, image_sha256, arrival, timer)
                )
            with self._lock:
                heads = self._loaded()
                if hidden is None:
                    self.stats.vision_cache_hits += 1
                else:
                    features = self._neck(heads, head, image_sha256, hidden, timer)
                assert features is not None
                run = self._concept if concept else self._interactive
                detections = run(heads, tuple(features), prompt, thresholds, (height, width), timer)
        return Segmentation(detections, width, height, timer.ms, vision_cache_hit=hit)

    def open_video(
        self,
        prompt: VideoPrompt,
        *,
        width: int,
        height: int,
        thresholds: Thresholds,
        max_objects: int,
    ) -> VideoSession:
        """Start tracking in a video of `width` x `height` frames. Raises InvalidInput."""
        return open_video_session(
            self,
            prompt,
            width=width,
            height=height,
            thresholds=thresholds,
            max_objects=max_objects,
        )

    def close(self) -> None:
        """Free the model and its caches."""
        with self._lock:
            self._heads = None
            self._vision_cache.clear()
            self._text_cache.clear()
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def _loaded(self) -> _Heads:
        if self._heads is None:
            raise ModelNotReady("the SAM 3 engine is closed")
        return self._heads

    def _neck(
        self, heads: _Heads, head: str, image_sha256: str, hidden: torch.Tensor, timer: _Timer
    ) -> tuple[torch.Tensor, ...]:
        """A head's image features from the shared ViT output, cached per image.

        Both the ViT output and each head's neck output are kept, so a second prompt on an
        image skips the whole image encoder, and a prompt for the other head skips the ViT.
        """
        with timer("encode_image"):
            if head == "detector":
                features = self._detector_features(heads.detector, hidden)
            else:
                features = self._tracker_embeddings(heads.tracker, hidden)
        self._vision_cache.put((image_sha256, head), features)
        return features

    def _backbone(
        self,
        image: Image.Image,
        image_sha256: str,
        arrival: Arrival[tuple[str, torch.Tensor], torch.Tensor],
        timer: _Timer,
    ) -> tuple[torch.Tensor, bool]:
        """The ViT output both heads start from (and whether the cache had it): from the cache
        when the image was seen, else from a batch shared with concurrent calls."""
        key = (image_sha256, "backbone")
        cached = self._vision_cache.get(key)
        if cached is not None:
            with self._lock:
                self.stats.vision_cache_hits += 1
            return cached[0], True
        with timer("preprocess"):
            pixels = self.processor.image_processor(images=image, return_tensors="pt")
            pixel_values = pixels["pixel_values"].to(self.device, self.dtype)
        with timer("encode_image"):
            hidden = arrival.submit((image_sha256, pixel_values))
        self._vision_cache.put(key, (hidden,))
        return hidden, False

    def _encode_batch(self, items: list[tuple[str, torch.Tensor]]) -> list[torch.Tensor]:
        """The ViT output of each image, in one batch (an image given twice is encoded once).

        Runs under the engine's lock. Each output is its own tensor, so that the feature cache
        never holds a whole batch for one image's sake.
        """
        self._loaded()
        unique = dict(reversed(items))  # one tensor per image, the first given
        order = {sha: row for row, sha in enumerate(dict.fromkeys(sha for sha, _ in items))}
        pixels = [unique[sha] for sha in order]
        with torch.inference_mode():
            batch = torch.cat(pixels + self._padding(pixels))
            hidden = self._vit(batch).last_hidden_state[: len(pixels)]
        self.stats.vision_encoder_runs += len(pixels)
        self.stats.vision_batches += 1
        if len(pixels) == 1:
            return [hidden] * len(items)
        outputs = [row.clone() for row in hidden.split(1)]
        return [outputs[order[sha]] for sha, _ in items]

    def _padding(self, pixels: list[torch.Tensor]) -> list[torch.Tensor]:
        """Compiled with static shapes, the backbone sees batches of 1, 2, 4, 8...: a batch is
        padded with copies of its first image up to the next of those sizes."""
        if not self._compiled:
            return []
        size = 1 << (len(pixels) - 1).bit_length()
        return [pixels[0]] * (size - len(pixels))

    def _concept(
        self,
        heads: _Heads,
        features: tuple[torch.Tensor, ...],
        prompt: Prompt,
        thresholds: Thresholds,
        size: tuple[int, int],
        timer: _Timer,
    ) -> list[Detection]:
        with timer("preprocess"):
            inputs = self._concept_inputs(prompt, size)
        levels = len(features) // 2
        vision = Sam3VisionEncoderOutput(
            fpn_hidden_states=features[:levels], fpn_position_encoding=features[levels:]
        )
        with timer("encode_prompt"):
            input_ids = inputs.pop("input_ids")
            text = self._text_features(heads.detector, input_ids, inputs["attention_mask"])
        with timer("decode"):
            outputs = heads.detector(vision_embeds=vision, text_embeds=text, **inputs)
        with timer("postprocess"):
            result = self.processor.post_process_instance_segmentation(
                outputs,
                threshold=thresholds.score,
                mask_threshold=thresholds.mask,
                target_sizes=[size],
            )[0]
            return ranked_detections(result["scores"], result["boxes"], result["masks"])

    def _concept_inputs(self, prompt: Prompt, size: tuple[int, int]) -> dict[str, torch.Tensor]:
        boxes = [[box.as_list() for box in prompt.boxes]] if prompt.boxes else None
        labels = [[int(box.positive) for box in prompt.boxes]] if prompt.boxes else None
        inputs = self.processor(
            text=prompt.text,
            input_boxes=boxes,
            input_boxes_labels=labels,
            original_sizes=[list(size)],
            return_tensors="pt",
        )
        if inputs["input_ids"].shape[-1] > self._max_tokens:
            raise InvalidInput(f"the text prompt is longer than {self._max_tokens} tokens")
        return self._on_device(inputs)

    def _detector_features(
        self, detector: Sam3Model, hidden: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        """`Sam3Model.get_vision_features` from the backbone output, flattened: the FPN levels,
        then their position encodings (all the detector reads of it)."""
        fpn_hidden_states, fpn_position_encoding = detector.vision_encoder.neck(
            self._spatial(hidden)
        )
        return (*fpn_hidden_states, *fpn_position_encoding)

    def _text_features(
        self, detector: Sam3Model, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> BaseModelOutputWithPooling:
        """`Sam3Model.get_text_features`, cached by token ids."""
        key = tuple(input_ids[0].tolist())
        features = self._text_cache.get(key)
        if features is None:
            output = detector.get_text_features(input_ids=input_ids, attention_mask=attention_mask)
            features = output.pooler_output
            self._text_cache.put(key, features)
            self.stats.text_encoder_runs += 1
        else:
            self.stats.text_cache_hits += 1
        return BaseModelOutputWithPooling(pooler_output=features)

    def _interactive(
        self,
        heads: _Heads,
        embeddings: tuple[torch.Tensor, ...],
        prompt: Prompt,
        thresholds: Thresholds,
        size: tuple[int, int],
        timer: _Timer,
    ) -> list[Detection]:
        with timer("preprocess"):
            inputs = self._interactive_inputs(prompt, size)
        # The tracker encodes its prompt inside the decoder call: that time counts as decode.
        with timer("decode"):
            ambiguous = len(prompt.points) == 1 and not prompt.boxes and prompt.mask is None
            outputs = heads.tracker(
                image_embeddings=embeddings, multimask_output=ambiguous, **inputs
            )
        with timer("postprocess"):
            return self._best_mask(outputs.iou_scores, outputs.pred_masks, size, thresholds)

    def _interactive_inputs(self, prompt: Prompt, size: tuple[int, int]) -> dict[str, torch.Tensor]:
        points = [[[[point.x, point.y] for point in prompt.points]]] if prompt.points else None
        labels = [[[int(point.positive) for point in prompt.points]]] if prompt.points else None
        boxes = [[prompt.boxes[0].as_list()]] if prompt.boxes else None
        inputs = self.tracker_processor(
            input_points=points,
            input_labels=labels,
            input_boxes=boxes,
            original_sizes=[list(size)],
            return_tensors="pt",
        )
        if prompt.mask is not None:
            logits = torch.from_numpy(prompt.mask).float() * (2 * _MASK_PROMPT_LOGIT)
            inputs["input_masks"] = (logits - _MASK_PROMPT_LOGIT)[None, None]
        return self._on_device(inputs)

    def _tracker_embeddings(
        self, tracker: Sam3TrackerModel, hidden: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        """`Sam3TrackerModel.get_image_embeddings`, from the backbone output.

        The library runs a fourth (0.5x) FPN level, adds `no_memory_embedding` to it and then
        keeps only the first three levels: the same result without the dropped level.
        """
        spatial = self._spatial(hidden)
        high, mid, low = (layer(spatial) for layer in tracker.vision_encoder.neck.fpn_layers[:3])
        decoder = tracker.mask_decoder
        return (decoder.conv_s0(high), decoder.conv_s1(mid), low)

    def _best_mask(
        self,
        iou_scores: torch.Tensor,
        pred_masks: torch.Tensor,
        size: tuple[int, int],
        thresholds: Thresholds,
    ) -> list[Detection]:
        """Keep the candidate mask with the best predicted IoU, which is also its score."""
        scores = iou_scores[0, 0].float()
        best = int(scores.argmax())
        score = float(scores[best])
        if score < thresholds.score:
            return []
        logits = pred_masks[:, :, best : best + 1]  # (image, object, mask, height, width)
        masks = self.tracker_processor.post_process_masks(
            logits, [size], mask_threshold=logit(thresholds.mask)
        )
        mask = masks[0][0, 0].cpu().numpy()
        box = bounding_box(mask)
        return [] if box is None else [Detection(score, box, mask)]

    def _spatial(self, hidden: torch.Tensor) -> torch.Tensor:
        """(batch, tokens, channels) ViT output as the (batch, channels, grid, grid) map."""
        return hidden.view(hidden.shape[0], self._grid, self._grid, -1).permute(0, 3, 1, 2)

    def _on_device(self, inputs: BatchEncoding) -> dict[str, torch.Tensor]:
        """Model inputs on the model's device; floats in its dtype. Drops `original_sizes`."""
        placed = {}
        for key, value in inputs.items():
            if key != "original_sizes":
                dtype = self.dtype if value.is_floating_point() else None
                placed[key] = value.to(self.device, dtype)
        return placed


class _Timer:
    """Milliseconds per stage; waits for the GPU so that each stage is charged its own work."""

    def __init__(self, device: torch.device) -> None:
        self.ms = dict.fromkeys(STAGES, 0.0)
        self._cuda = device.type == "cuda"

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            if self._cuda:
                torch.cuda.synchronize()
            self.ms[stage] += (time.perf_counter() - start) * 1000


def _placement(device: str) -> tuple[torch.device, torch.dtype]:
    """`auto` is the GPU in bfloat16 when there is one, else the CPU in float32."""
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
