"""Real results of the tiny random SAM 3 for the model hub's tests: a registry with versions,
the image result JSON that a request gets, and watched traffic for the metrics."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from sam3_service.domain.canary import CanaryWatch
from sam3_service.domain.models import ModelHost
from sam3_service.domain.params import SegmentParams
from sam3_service.domain.segment import segment_decoded
from sam3_service.domain.services import Limits
from sam3_service.domain.shadow import ShadowRunner
from sam3_service.hub import (
    EventKind,
    ModelEvent,
    ModelRegistry,
    ModelVersion,
    RollbackRules,
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


async def register(registry: ModelRegistry, folder: Path, version: str | None = None) -> str:
    """Register the model in `folder` under `version`, by default its content's; returns the
    version."""
    version = version or model_version(folder)
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


async def watched_traffic(
    registry: ModelRegistry, host: ModelHost, folder: Path
) -> tuple[CanaryWatch, ShadowRunner]:
    """`host`'s model (in `folder`) stable, and a canary whose requests all fail, rolled back
    after 5; a shadow copy of the stable version compared once, and dropped once."""
    stable = await register(registry, folder)
    canary = await register(registry, folder, "canary-1")
    table = await route(registry, stable=stable, canary=canary, canary_percent=50)
    watch = CanaryWatch(registry, RollbackRules(min_requests=5, window=10))
    for _ in range(5):
        await watch.observe(table, stable, ok=True, latency_ms=250.0)
        await watch.observe(table, canary, ok=False, latency_ms=1.0)
    image = random_png(0)
    served = await segment(host, image)
    shadow = ShadowRunner(max_in_flight=1)
    assert shadow.offer(stable, "copy-1", served, lambda: segment(host, image))
    assert not shadow.offer(stable, "copy-1", served, lambda: segment(host, image))
    await shadow.wait_idle()
    return watch, shadow
