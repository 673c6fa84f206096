"""The concept head: text and/or exemplar boxes find every instance (`Sam3Model`)."""

from __future__ import annotations

import torch
from transformers.modeling_outputs import BaseModelOutputWithPooling
from transformers.models.sam3.modeling_sam3 import Sam3VisionEncoderOutput

from ..errors import InvalidInput
from .base import Detection, EngineStats, Prompt
from .feature_cache import FeatureCache, count_one
from .head import Call
from .postprocess import ranked_detections
from .weights import Sam3Weights

__all__ = ["ConceptHead"]


class ConceptHead:
    """The video model's `detector_model`, with its text features cached by token ids."""

    name = "detector"

    def __init__(
        self, weights: Sam3Weights, stats: EngineStats, *, text_cache_entries: int
    ) -> None:
        self._weights = weights
        self._stats = stats
        self._text_cache: FeatureCache[torch.Tensor] = FeatureCache(
            text_cache_entries, weigh=count_one
        )

    def features(self, hidden: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """`Sam3Model.get_vision_features` from the backbone output, flattened: the FPN levels,
        then their position encodings (all the detector reads of it)."""
        neck = self._weights.detector.vision_encoder.neck
        fpn_hidden_states, fpn_position_encoding = neck(self._weights.spatial(hidden))
        return (*fpn_hidden_states, *fpn_position_encoding)

    def answer(self, features: tuple[torch.Tensor, ...], call: Call) -> list[Detection]:
        """Every instance of the prompt's concept, best first."""
        detector, timer = self._weights.detector, call.timer
        with timer("preprocess"):
            inputs = self._inputs(call.prompt, call.size)
        levels = len(features) // 2
        vision = Sam3VisionEncoderOutput(
            fpn_hidden_states=features[:levels], fpn_position_encoding=features[levels:]
        )
        with timer("encode_prompt"):
            input_ids = inputs.pop("input_ids")
            text = self._text_features(input_ids, inputs["attention_mask"])
        with timer("decode"):
            outputs = detector(vision_embeds=vision, text_embeds=text, **inputs)
        with timer("postprocess"):
            result = self._weights.processor.post_process_instance_segmentation(
                outputs,
                threshold=call.thresholds.score,
                mask_threshold=call.thresholds.mask,
                target_sizes=[call.size],
            )[0]
            return ranked_detections(result["scores"], result["boxes"], result["masks"])

    def clear(self) -> None:
        """Empty the text cache."""
        self._text_cache.clear()

    def _inputs(self, prompt: Prompt, size: tuple[int, int]) -> dict[str, torch.Tensor]:
        boxes = [[box.as_list() for box in prompt.boxes]] if prompt.boxes else None
        labels = [[int(box.positive) for box in prompt.boxes]] if prompt.boxes else None
        inputs = self._weights.processor(
            text=prompt.text,
            input_boxes=boxes,
            input_boxes_labels=labels,
            original_sizes=[list(size)],
            return_tensors="pt",
        )
        limit = self._weights.max_text_tokens
        if inputs["input_ids"].shape[-1] > limit:
            raise InvalidInput(f"the text prompt is longer than {limit} tokens")
        return self._weights.on_device(inputs)

    def _text_features(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> BaseModelOutputWithPooling:
        """`Sam3Model.get_text_features`, cached by token ids."""
        key = tuple(input_ids[0].tolist())
        features = self._text_cache.get(key)
        if features is None:
            output = self._weights.detector.get_text_features(
                input_ids=input_ids, attention_mask=attention_mask
            )
            features = output.pooler_output
            self._text_cache.put(key, features)
            self._stats.text_encoder_runs += 1
        else:
            self._stats.text_cache_hits += 1
        return BaseModelOutputWithPooling(pooler_output=features)
