"""The interactive head: clicks, one box and/or a mask mark one object (`Sam3TrackerModel`)."""

from __future__ import annotations

import torch

from ..media import mask_bbox
from .base import Detection, Prompt, Thresholds
from .head import Call
from .postprocess import box_tuple, logit
from .prompts import click_inputs
from .weights import Sam3Weights

__all__ = ["InteractiveHead"]

_MASK_PROMPT_LOGIT = 10.0  # a bool mask prompt enters as logits of +-10, SAM 2's scale for masks


class InteractiveHead:
    """The tracker assembled from the video model's modules, on the shared ViT's output."""

    name = "tracker"

    def __init__(self, weights: Sam3Weights) -> None:
        self._weights = weights

    def features(self, hidden: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """`Sam3TrackerModel.get_image_embeddings`, from the backbone output.

        The library runs a fourth (0.5x) FPN level, adds `no_memory_embedding` to it and then
        keeps only the first three levels: the same result without the dropped level.
        """
        tracker = self._weights.tracker
        spatial = self._weights.spatial(hidden)
        high, mid, low = (layer(spatial) for layer in tracker.vision_encoder.neck.fpn_layers[:3])
        decoder = tracker.mask_decoder
        return (decoder.conv_s0(high), decoder.conv_s1(mid), low)

    def answer(self, features: tuple[torch.Tensor, ...], call: Call) -> list[Detection]:
        """The one object the prompt marks, or nothing when its score is under the threshold."""
        tracker, prompt, timer = self._weights.tracker, call.prompt, call.timer
        with timer("preprocess"):
            inputs = self._inputs(prompt, call.size)
        # The tracker encodes its prompt inside the decoder call: that time counts as decode.
        with timer("decode"):
            ambiguous = len(prompt.points) == 1 and not prompt.boxes and prompt.mask is None
            outputs = tracker(image_embeddings=features, multimask_output=ambiguous, **inputs)
        with timer("postprocess"):
            return self._best_mask(
                outputs.iou_scores, outputs.pred_masks, call.size, call.thresholds
            )

    def _inputs(self, prompt: Prompt, size: tuple[int, int]) -> dict[str, torch.Tensor]:
        points, labels = click_inputs(prompt.points)
        boxes = [[prompt.boxes[0].as_list()]] if prompt.boxes else None
        inputs = self._weights.tracker_processor(
            input_points=points,
            input_labels=labels,
            input_boxes=boxes,
            original_sizes=[list(size)],
            return_tensors="pt",
        )
        if prompt.mask is not None:
            logits = torch.from_numpy(prompt.mask).float() * (2 * _MASK_PROMPT_LOGIT)
            inputs["input_masks"] = (logits - _MASK_PROMPT_LOGIT)[None, None]
        return self._weights.on_device(inputs)

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
        masks = self._weights.tracker_processor.post_process_masks(
            logits, [size], mask_threshold=logit(thresholds.mask)
        )
        mask = masks[0][0, 0].cpu().numpy()
        box = mask_bbox(mask)
        return [] if box is None else [Detection(score, box_tuple(box), mask)]
