"""SAM 3 inference: the Engine protocol, its data types and the transformers engine.

The data types come from `base.py`, which needs neither torch nor transformers. The engine's
names load those libraries on first use, so that importing this package stays cheap for
code that only passes prompts and results around.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .base import (
    Box,
    Detection,
    Engine,
    EngineStats,
    ModelInfo,
    Point,
    Prompt,
    PromptMode,
    Segmentation,
    Thresholds,
    TrackedFrame,
    TrackedObject,
    TrackingSpec,
    VideoPrompt,
    VideoSession,
)

if TYPE_CHECKING:
    from .loader import ModelSource, load_engine, resolve_model
    from .sam3 import Sam3Engine
    from .tiny import build_tiny_model

__all__ = [
    "Box",
    "Detection",
    "Engine",
    "EngineStats",
    "ModelInfo",
    "ModelSource",
    "Point",
    "Prompt",
    "PromptMode",
    "Sam3Engine",
    "Segmentation",
    "Thresholds",
    "TrackedFrame",
    "TrackedObject",
    "TrackingSpec",
    "VideoPrompt",
    "VideoSession",
    "build_tiny_model",
    "load_engine",
    "resolve_model",
]

_HEAVY = {
    "ModelSource": ".loader",
    "load_engine": ".loader",
    "resolve_model": ".loader",
    "Sam3Engine": ".sam3",
    "build_tiny_model": ".tiny",
}


def __getattr__(name: str) -> object:
    """Import the torch-backed names on first access."""
    if name not in _HEAVY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_HEAVY[name], __name__), name)
