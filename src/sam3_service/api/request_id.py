"""Request ids: one per request, in its `X-Request-ID` response header and in its log lines.

A client's own `X-Request-ID` is kept when it is sane (1-128 of `A-Za-z0-9._:-`), so that one
id follows a request through a proxy and the service; otherwise the service makes one.
"""

from __future__ import annotations

import inspect
import logging
import re
import uuid
from contextvars import ContextVar

from fastapi import FastAPI, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import logs
from ..logs import LogFormat

HEADER = "X-Request-ID"
LOG_FORMAT = "%(levelname)s %(name)s [%(request_id)s]: %(message)s"
_SANE = re.compile(r"[A-Za-z0-9._:-]{1,128}")

_current: ContextVar[str | None] = ContextVar("sam3_request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request being served, or None outside one."""
    return _current.get()


class RequestIdMiddleware:
    """Give each HTTP request an id: in `request.state.request_id`, in the log context while the
    request runs, and in the `X-Request-ID` header of its response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming(scope) or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", ()) if k != b"x-request-id"]
                message = {**message, "headers": [*headers, (b"x-request-id", request_id.encode())]}
            await send(message)

        token = _current.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            _current.reset(token)


class RequestIdLogFilter(logging.Filter):
    """Adds `request_id` to every record: the current request's id, or `-` outside one."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _current.get() or "-"
        return True


def configure_logging(level: str, log_format: LogFormat = "text") -> None:
    """Log to stderr (unless logging is set up already) with each line's request id, as JSON
    lines or text (`sam3_service.logs`)."""
    logs.configure(level, log_format, text_format=LOG_FORMAT)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # a line per plugin
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RequestIdLogFilter) for f in handler.filters):
            handler.addFilter(RequestIdLogFilter())


def install_request_ids(app: FastAPI) -> None:
    """Add the middleware, and the id to the 500 answers made outside it (after
    `install_error_handlers`: Starlette answers unexpected errors in its outermost layer)."""
    app.add_middleware(RequestIdMiddleware)
    unexpected = app.exception_handlers[Exception]

    async def unexpected_with_id(request: Request, exc: Exception) -> Response:
        request_id = request.scope.get("state", {}).get("request_id")
        token = _current.set(request_id)
        try:
            response = unexpected(request, exc)
            if inspect.isawaitable(response):
                response = await response
        finally:
            _current.reset(token)
        if request_id is not None:
            response.headers[HEADER] = request_id
        return response

    app.add_exception_handler(Exception, unexpected_with_id)


def _incoming(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            return text if _SANE.fullmatch(text) else None
    return None
