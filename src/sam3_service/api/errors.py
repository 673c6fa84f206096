"""The one place where errors become HTTP: `{"error": {"code": ..., "message": ...}}`."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import (
    BackendUnavailable,
    Busy,
    ConfigError,
    Conflict,
    Forbidden,
    InvalidInput,
    ModelNotReady,
    NotFound,
    RateLimited,
    Sam3Error,
    TimedOut,
    TooLarge,
    Unauthorized,
    UnsupportedMedia,
)

log = logging.getLogger(__name__)

MODEL_LOADING_RETRY_AFTER_S = 5

STATUS: dict[type[Sam3Error], int] = {
    InvalidInput: 422,
    UnsupportedMedia: 415,
    TooLarge: 413,
    NotFound: 404,
    Conflict: 409,
    Unauthorized: 401,
    Forbidden: 403,
    RateLimited: 429,
    Busy: 503,
    ModelNotReady: 503,
    BackendUnavailable: 503,
    TimedOut: 504,
    ConfigError: 500,
}


def status_of(exc: Sam3Error) -> int:
    """The HTTP status of an error, looked up along its class hierarchy."""
    return next((STATUS[c] for c in type(exc).__mro__ if c in STATUS), 500)


def log_client_error(method: str, path: str, status: int, code: str, message: str) -> None:
    """One WARNING line per refused request (the request id is added by the log filter)."""
    log.warning("%d %s on %s %s: %s", status, code, method, path, message)


def error_body(code: str, message: str, **details: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **details}}


async def _sam3_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Sam3Error)
    status = status_of(exc)
    if status >= 500 and not isinstance(exc, ModelNotReady | Busy | BackendUnavailable):
        log.error("%s on %s %s: %s", exc.code, request.method, request.url.path, exc.message)
    elif status < 500:
        log_client_error(request.method, request.url.path, status, exc.code, exc.message)
    return error_response(exc)


def error_response(exc: Sam3Error) -> JSONResponse:
    """The JSON answer to one of our errors, with its status and headers."""
    status = status_of(exc)
    headers = {}
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(max(1, round(exc.retry_after)))
    elif isinstance(exc, Busy):
        headers["Retry-After"] = "1"
    elif isinstance(exc, ModelNotReady) and exc.details.get("state") == "starting":
        headers["Retry-After"] = str(MODEL_LOADING_RETRY_AFTER_S)
    return JSONResponse(
        error_body(exc.code, exc.message, **exc.details), status_code=status, headers=headers
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = describe_problems(exc.errors())
    log_client_error(request.method, request.url.path, 422, "invalid_input", "; ".join(problems))
    return JSONResponse(
        error_body("invalid_input", "; ".join(problems), fields=problems), status_code=422
    )


def describe_problems(errors: Sequence[Any]) -> list[str]:
    """pydantic's validation errors as `field: message` lines, for a person."""
    return [_describe(error) for error in errors]


def _describe(error: Any) -> str:
    where = ".".join(str(part) for part in error.get("loc", ()) if part not in ("body", "query"))
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    if exc.status_code < 500:
        log_client_error(request.method, request.url.path, exc.status_code, code, str(exc.detail))
    return JSONResponse(
        error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return JSONResponse(error_body("internal_error", "internal server error"), status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    """Give every error the same JSON shape."""
    app.add_exception_handler(Sam3Error, _sam3_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
