"""Real results of the tiny random SAM 3 for the model hub's tests: a registry with versions,
a host per version, and the image result JSON that a request gets."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from sam3_service.domain.models import ModelHost
from sam3_service.domain.params import SegmentParams
from sam3_service.domain.segment import segment_decoded
from sam3_service.domain.services import Limits
from sam3_service.hub import (
    EventKind,
    ModelEvent,
    ModelRegistry,
    ModelVersion,
    RoutingTable,
    SourceKind,
)
from sam3_service.inference import Engine, Thresholds
from sam3_service.inference.checksum import model_version
from sam3_service.media import decode_image

# Every query kept: the tiny random model's text scores are about 0.25.
PARAMS = SegmentParams(prompt="cat", score_threshold=0.0)


def random_png(seed: int, width: int = 120, height: int = 80) -> bytes:
    """A picture of noise, a new one per seed."""
    import io

    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def segmenter(data: bytes) -> Callable[[Engine], dict[str, Any]]:
    """The call that a `ModelHost.run` makes for a request on `data`: its result JSON."""
    decoded = decode_image(data)
    return lambda engine: segment_decoded(
        engine, decoded, PARAMS, limits=Limits(), defaults=Thresholds()
    )


async def segment(host: ModelHost, data: bytes) -> dict[str, Any]:
    """The result JSON that `host` answers for `data` with the text prompt "cat"."""
    return await host.run(segmenter(data))


async def register(registry: ModelRegistry, folder: Path) -> str:
    """Register the model in `folder` under its content's version; returns the version."""
    version = model_version(folder)
    model = ModelVersion(
        version, "tiny-random", SourceKind.LOCAL, str(folder), version, "float32", "cpu"
    )
    await registry.add(model, actor="test")
    return version


async def route(registry: ModelRegistry, **table: Any) -> RoutingTable:
    """Store the routing table `table` over the stored one."""
    current = await registry.routing()
    event = ModelEvent(EventKind.ROUTED, table.get("canary"), actor="test")
    return await registry.set_routing(
        RoutingTable(**table), expect_revision=current.revision, event=event
    )
