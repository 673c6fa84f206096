"""`/v1/examples`: sample pictures and their results, public and cacheable by a CDN."""

from __future__ import annotations

from importlib.resources import files
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from ...domain import examples
from ..deps import ServicesDep

router = APIRouter(tags=["examples"])

_PICTURES = files("sam3_service.web").joinpath("examples")
_LIST_MAX_AGE_S = 300
_IMAGE_MAX_AGE_S = 24 * 3600
_RESULT_MAX_AGE_S = 3600  # a result changes when the service loads another model
_IMAGE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/png": {}, "image/jpeg": {}}, "description": "The picture."}
}


class ExampleInfo(BaseModel):
    name: str
    title: str
    prompt: str
    credit: str
    licence: str
    image_url: str
    result_url: str


class ExampleList(BaseModel):
    examples: list[ExampleInfo]


@router.get("/examples", response_model=ExampleList)
async def list_examples() -> JSONResponse:
    """The sample pictures, each with a prompt that fits it and its credit."""
    body = ExampleList(
        examples=[
            ExampleInfo(
                name=example.name,
                title=example.title,
                prompt=example.prompt,
                credit=example.credit,
                licence=example.licence,
                image_url=f"/v1/examples/{example.name}/image",
                result_url=f"/v1/examples/{example.name}/result",
            )
            for example in examples.CATALOGUE
        ]
    )
    return JSONResponse(body.model_dump(), headers=_cache_headers(None, _LIST_MAX_AGE_S))


@router.get("/examples/{name}/image", response_class=Response, responses=_IMAGE)
async def example_image(name: str, request: Request) -> Response:
    """The sample picture; answers 304 to a matching `If-None-Match`."""
    example = examples.find(name)
    image = examples.read_image(_PICTURES, example)
    etag = examples.image_etag(image)
    if _matches(request, etag):
        return _not_modified(etag, _IMAGE_MAX_AGE_S)
    headers = _cache_headers(etag, _IMAGE_MAX_AGE_S)
    return Response(image, media_type=example.media_type, headers=headers)


@router.get("/examples/{name}/result")
async def example_result(name: str, request: Request, services: ServicesDep) -> Response:
    """The sample's result (as `POST /v1/segment` returns it, without task links), segmented
    once and then cached; answers 304 to a matching `If-None-Match`."""
    example = examples.find(name)
    image = examples.read_image(_PICTURES, example)
    version = examples.loaded_model_version(services)
    if version is not None:
        etag = examples.result_etag(example, image, version)
        if _matches(request, etag):
            return _not_modified(etag, _RESULT_MAX_AGE_S)
    result: dict[str, Any] = await examples.compute_result(services, example, image)
    etag = examples.result_etag(example, image, result["model"]["version"])
    return JSONResponse(result, headers=_cache_headers(etag, _RESULT_MAX_AGE_S))


def _matches(request: Request, etag: str) -> bool:
    """Whether `If-None-Match` names this ETag (weak comparison, as RFC 9110 asks for GET)."""
    header = request.headers.get("if-none-match", "")
    candidates = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return "*" in candidates or etag in candidates


def _cache_headers(etag: str | None, max_age_s: int) -> dict[str, str]:
    headers = {"Cache-Control": f"public, max-age={max_age_s}"}
    if etag is not None:
        headers["ETag"] = etag
    return headers


def _not_modified(etag: str, max_age_s: int) -> Response:
    return Response(status_code=304, headers=_cache_headers(etag, max_age_s))
