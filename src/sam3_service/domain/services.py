"""The backends and limits that every use case works with, assembled by `runtime.py`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..auth.base import KeyStore, RateLimiter
from ..cache.base import Cache, Notifier
from ..inference.base import Prompt, Thresholds
from ..media import VideoLimits
from ..storage.base import BlobStore
from ..tasks.base import ShareStore, TaskQueue, TaskStore
from .model_routing import ModelRouter, Observer, Shadow
from .model_set import ModelSet
from .params import SegmentParams, build_prompt


@dataclass(frozen=True)
class Limits:
    """Input limits, from settings."""

    max_upload_bytes: int = 32 << 20
    max_image_side: int = 4096
    max_prompt_chars: int = 200
    max_boxes: int = 16
    max_points: int = 32
    max_video_bytes: int = 128 << 20
    video: VideoLimits = field(default_factory=VideoLimits)  # duration and resolution
    max_video_objects: int = 32

    def prompt(self, params: SegmentParams, *, width: int, height: int, mask: Any = None) -> Prompt:
        """The engine's prompt of `params` on a picture of this size. Raises InvalidInput."""
        return build_prompt(
            params,
            width=width,
            height=height,
            max_boxes=self.max_boxes,
            max_points=self.max_points,
            mask=mask,
        )


@dataclass
class Services:
    """Everything a use case needs. `models` is None where inference runs in remote workers;
    `hub` is None where no routing table is read (a worker process)."""

    store: TaskStore
    shares: ShareStore
    blobs: BlobStore
    cache: Cache
    queue: TaskQueue
    models: ModelSet | None
    limits: Limits
    thresholds: Thresholds
    share_secret: bytes = b""
    share_ttl_s: int = 7 * 24 * 3600
    result_ttl_s: int = 24 * 3600
    sync_timeout_s: float = 120.0
    keys: KeyStore | None = None  # None: authentication is off (SAM3_AUTH_ENABLED=false)
    limiter: RateLimiter | None = None  # counts each API key's requests
    notifier: Notifier | None = None  # wakes synchronous requests when their task finishes
    wait_poll_s: float = 1.0  # how often such a request reads its task anyway
    hub: ModelRouter | None = None  # the model registry and its routing table
    observer: Observer | None = None  # told each routed inline request's outcome
    shadow: Shadow | None = None  # offered copies of requests for the shadow version
