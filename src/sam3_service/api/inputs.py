"""Reading a segmentation request from either a multipart form or a JSON body.

Every field is bounded before it is parsed: form fields by their part size, a JSON body's
fields other than the base64 `image` and `mask` by `SMALL_BODY_BYTES` (checked by a scan of
the raw bytes), lists and the prompt by `max_length` from settings. Large bodies are parsed
off the event loop.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from pydantic import ValidationError
from starlette.datastructures import FormData, UploadFile

from ..domain.params import SegmentParams, bounded
from ..domain.services import Limits
from ..domain.video import VideoOptions
from ..errors import InvalidInput, TooLarge, UnsupportedMedia
from .errors import describe_problems
from .limits import SMALL_BODY_BYTES
from .schemas import SegmentJson

_FORM_FIELDS = {
    "prompt",
    "boxes",
    "points",
    "mode",
    "score_threshold",
    "mask_threshold",
    "mask_format",
    "image_id",
    "task_id",
    "model_version",
}
_VIDEO_FIELDS = frozenset(VideoOptions.model_fields)
_JSON_LIST_FIELDS = ("boxes", "points")
# A JSON body's base64 file fields; everything else in it must fit in SMALL_BODY_BYTES.
_FILE_VALUES = re.compile(rb'"(?:image|mask)"\s*:\s*"[A-Za-z0-9+/=_:;,.-]*"')


@dataclass
class SegmentInput:
    """A parsed request: the prompt and options plus where the image comes from."""

    params: SegmentParams
    data: bytes | None
    image_id: str | None
    mask_data: bytes | None
    task_id: str | None
    video_options: VideoOptions | None = None  # frame_stride, max_frames, prompt_frame
    model_version: str | None = None  # a pin

    def submit_args(self, owner: str, routing_owner: str | None = None) -> dict[str, Any]:
        return {
            "params": self.params,
            "data": self.data,
            "image_id": self.image_id,
            "mask_data": self.mask_data,
            "task_id": self.task_id,
            "owner": owner,
            "video_options": self.video_options,
            "model_version": self.model_version,
            "routing_owner": routing_owner,
        }


async def read_segment_input(request: Request, limits: Limits) -> SegmentInput:
    """Parse multipart/form-data or application/json. Raises InvalidInput, TooLarge or
    UnsupportedMedia."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    bounds = {
        "prompt_chars": limits.max_prompt_chars,
        "boxes": limits.max_boxes,
        "points": limits.max_points,
    }
    if content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        form_limits = {"max_files": 2, "max_fields": 32, "max_part_size": SMALL_BODY_BYTES}
        async with request.form(**form_limits) as form:
            return await _from_form(form, bounded(SegmentParams, **bounds))
    if content_type in ("application/json", ""):
        return _from_json(await _json_body(request), bounded(SegmentJson, **bounds))
    raise UnsupportedMedia(
        f"unsupported request type {content_type!r}: send multipart/form-data (a `file` field "
        "and prompt fields) or application/json (base64 `image` or `image_id`)"
    )


async def _from_form(form: FormData, params_model: type[SegmentParams]) -> SegmentInput:
    unknown = sorted(set(form.keys()) - _FORM_FIELDS - _VIDEO_FIELDS - {"file", "mask"})
    if unknown:
        raise InvalidInput(f"unknown form fields: {', '.join(unknown)}")
    fields: dict[str, Any] = {k: form[k] for k in _FORM_FIELDS if isinstance(form.get(k), str)}
    video_fields = {k: form[k] for k in _VIDEO_FIELDS if isinstance(form.get(k), str) and form[k]}
    for name in _JSON_LIST_FIELDS:
        if name in fields:
            fields[name] = _json_field(name, fields[name])
    if "mask_format" in form:
        fields["mask_format"] = _split_formats(form.getlist("mask_format"))
    image_id = fields.pop("image_id", None) or None
    task_id = fields.pop("task_id", None) or None
    model_version = fields.pop("model_version", None) or None
    for name in ("score_threshold", "mask_threshold", "prompt", "mode"):
        if fields.get(name) == "":
            fields.pop(name)
    params = _validate(params_model, fields)
    data = await _read_file(form.get("file"), "file")
    _validate(
        SegmentJson, {"task_id": task_id, "image_id": image_id, "model_version": model_version}
    )
    mask = await _read_file(form.get("mask"), "mask")
    video = _video_options(video_fields)
    return SegmentInput(params, data, image_id, mask, task_id, video, model_version)


def _from_json(body: Any, json_model: type[SegmentJson]) -> SegmentInput:
    if not isinstance(body, dict):
        raise InvalidInput("the JSON body must be an object")
    request = _validate(json_model, body)
    params = SegmentParams.model_validate(
        request.model_dump(
            exclude={"image", "image_id", "mask", "task_id", "model_version", *_VIDEO_FIELDS},
            exclude_unset=True,
        )
    )
    return SegmentInput(
        params=params,
        data=_b64(request.image, "image") if request.image is not None else None,
        image_id=request.image_id,
        mask_data=_b64(request.mask, "mask") if request.mask is not None else None,
        task_id=request.task_id,
        model_version=request.model_version,
        video_options=_video_options(request.model_dump(include=_VIDEO_FIELDS, exclude_unset=True)),
    )


def _video_options(fields: dict[str, Any]) -> VideoOptions | None:
    """The video options that were given, or None when none was."""
    return _validate(VideoOptions, fields) if fields else None


async def _json_body(request: Request) -> Any:
    """The parsed body; one over SMALL_BODY_BYTES must owe its size to `image` or `mask`, and
    is checked and parsed on a worker thread. Raises InvalidInput or TooLarge."""
    raw = await request.body()
    if not raw:
        raise InvalidInput("empty request: upload a `file` (multipart) or send a JSON body")
    if len(raw) <= SMALL_BODY_BYTES:
        return parse_json(raw)
    return await asyncio.to_thread(_parse_large, raw)


def _parse_large(raw: bytes) -> Any:
    other = len(raw) - sum(m.end() - m.start() for m in _FILE_VALUES.finditer(raw))
    if other > SMALL_BODY_BYTES:
        raise TooLarge(
            f"the JSON fields other than the base64 `image` and `mask` have more than "
            f"{SMALL_BODY_BYTES} bytes"
        )
    return parse_json(raw)


def parse_json(raw: bytes | str) -> Any:
    """`json.loads`, with every failure (bad syntax or encoding, too deep, a number with too
    many digits) an InvalidInput."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"the body is not valid JSON: {exc.msg} at character {exc.pos}"
        ) from None
    except UnicodeDecodeError:
        raise InvalidInput("the body is not valid JSON: it is not UTF-8") from None
    except RecursionError:
        raise InvalidInput("the body is not valid JSON: it nests too deeply") from None
    except ValueError:
        raise InvalidInput("the body is not valid JSON: a number has too many digits") from None


async def _read_file(value: Any, name: str) -> bytes | None:
    if value is None:
        return None
    if not isinstance(value, UploadFile):
        raise InvalidInput(f"`{name}` must be a file upload")
    return await value.read()


def _json_field(name: str, raw: str) -> Any:
    if raw.strip() == "":
        return []
    try:
        return parse_json(raw)
    except InvalidInput:
        example = "[[10, 20, 200, 180]]" if name == "boxes" else "[[120, 80], [40, 60, 0]]"
        raise InvalidInput(f"`{name}` must be a JSON list such as {example}") from None


def _split_formats(values: list[Any]) -> list[str]:
    return [
        part.strip() for v in values if isinstance(v, str) for part in v.split(",") if part.strip()
    ]


def _b64(value: str, name: str) -> bytes:
    try:
        return base64.b64decode(
            value.split(",", 1)[-1] if value.startswith("data:") else value, validate=True
        )
    except (binascii.Error, ValueError):
        raise InvalidInput(f"`{name}` is not valid base64") from None


def _validate(model: type[Any], data: dict[str, Any]) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput("; ".join(describe_problems(exc.errors()))) from None
