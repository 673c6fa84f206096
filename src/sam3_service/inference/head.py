"""What the engine asks of each image head: features from the shared ViT, then an answer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch

from ..timing import StageTimer
from .base import Detection, Prompt, Thresholds

__all__ = ["Call", "Head"]


@dataclass(frozen=True)
class Call:
    """One image prompt as a head sees it."""

    prompt: Prompt
    thresholds: Thresholds
    size: tuple[int, int]  # (height, width) of the input image
    timer: StageTimer


class Head(Protocol):
    """One of SAM 3's image heads. Its calls run under the weights' lock."""

    name: str  # names its features in the vision cache

    def features(self, hidden: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The head's image features from the ViT output of one image."""
        ...

    def answer(self, features: tuple[torch.Tensor, ...], call: Call) -> list[Detection]:
        """The detections for `call`'s prompt on the image of `features`."""
        ...
