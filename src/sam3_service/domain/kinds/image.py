"""Image tasks: one picture, segmented once; its result is cached per model and request."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from ...errors import InvalidInput, Sam3Error
from ...inference.base import Thresholds
from ...media import decode_image
from ...tasks.base import TaskKind, TaskRecord
from .. import image_input, keys, result_cache, results, segment
from ..image_input import PreparedImage
from ..params import TaskParams
from ..services import Services
from .base import Outcome, TaskRequest, record_fields

_NO_SIDE_LIMIT = 1 << 16  # stored inputs were checked on upload


class ImageKind:
    """The handler of image tasks (see `KindHandler`)."""

    kind: TaskKind = TaskKind.IMAGE
    files: dict[str, str] = {"masks.png": "image/png", "overlay.png": "image/png"}
    links_in_result: bool = False
    sync_refusal: str | None = None

    async def intake(self, services: Services, request: TaskRequest, task_id: str) -> TaskRecord:
        if request.video_options is not None:
            raise InvalidInput("frame_stride, max_frames and prompt_frame are for videos only")
        return await image_input.expected_record(
            services,
            params=request.params,
            data=request.data,
            image_id=request.image_id,
            mask_data=request.mask_data,
            owner=request.owner,
            task_id=task_id,
        )

    async def prepare(
        self, services: Services, record: TaskRecord, request: TaskRequest, *, defer_store: bool
    ) -> PreparedImage:
        return await image_input.prepare(
            services,
            record,
            params=request.params,
            data=request.data,
            mask_data=request.mask_data,
            defer_store=defer_store,
        )

    def identity(self, record: TaskRecord, defaults: Thresholds) -> dict[str, Any]:
        return TaskParams.model_validate(record.params).cache_identity(defaults)

    async def cached_result(self, services: Services, record: TaskRecord) -> str | None:
        identity = self.identity(record, services.thresholds)
        return await result_cache.lookup(services, record, identity)

    async def execute(
        self, services: Services, record: TaskRecord, prepared: PreparedImage | None
    ) -> Outcome:
        """Segment the image, or reuse a cached result; `prepared` spares decoding it again."""
        identity = self.identity(record, services.thresholds)
        cached_key = await result_cache.lookup(services, record, identity)
        if cached_key is not None:
            if prepared is not None:
                await image_input.store(services, prepared, owner=record.owner)
            version = record.model_version or await result_cache.model_version(services)
            return Outcome(cached_key, {"model_version": version})
        result = await _segment(services, record, prepared)
        key = keys.result_key(record.id)
        version = result["model"]["version"]
        await asyncio.gather(  # a cached key counts only once its result exists: order is free
            services.blobs.put(key, json.dumps(result).encode(), "application/json"),
            result_cache.remember(services, record, identity, version, key),
        )
        return Outcome(key, record_fields(result), result)

    def frames(self, record: TaskRecord) -> None:
        return None

    async def file(self, services: Services, record: TaskRecord, name: str) -> bytes:
        """`masks.png`: one colour per object on a transparent background; `overlay.png`: the
        input image with coloured, outlined, labelled masks."""
        result = await results.load_result(services.blobs, record)
        if name == "masks.png":
            return await asyncio.to_thread(results.render_label_png, result)
        original = await services.blobs.get(record.input_key)

        def render() -> bytes:
            picture = decode_image(original, max_side=_NO_SIDE_LIMIT).image
            return results.render_overlay_png(result, picture)

        return await asyncio.to_thread(render)


async def _segment(
    services: Services, record: TaskRecord, prepared: PreparedImage | None
) -> dict[str, Any]:
    """Run the model on the task's image (keeping its upload meanwhile); returns the result."""
    if services.models is None:
        raise Sam3Error("this process has no model to run tasks with")
    params = TaskParams.model_validate(record.params)
    started = time.perf_counter()
    if prepared is None:
        prepared = await _load_input(services, record, params)
    decoded, mask = prepared.decoded, prepared.mask
    feature_key = await segment.feature_key(services, record.owner, decoded.sha256)
    decode_ms = prepared.decode_ms + (time.perf_counter() - started) * 1000
    result, _, _ = await asyncio.gather(  # the model works while the upload is kept
        services.models.host(record.model_version).run(
            lambda engine: segment.segment_decoded(
                engine,
                decoded,
                params,
                limits=services.limits,
                defaults=services.thresholds,
                mask=mask,
                decode_ms=decode_ms,
                feature_key=feature_key,
            )
        ),
        services.store.update(record.id, progress=0.1),
        image_input.store(services, prepared, owner=record.owner),
    )
    return result


async def _load_input(services: Services, record: TaskRecord, params: TaskParams) -> PreparedImage:
    """A queued task's input, read back from storage and decoded."""
    started = time.perf_counter()
    decoded = await segment.load_image(services, keys.image_sha256(record.input_key))
    mask = await segment.load_mask(services, params.mask_key, decoded)
    return PreparedImage(decoded, mask, (time.perf_counter() - started) * 1000)
