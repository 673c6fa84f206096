"""Request ids: one per request, in its `X-Request-ID` response header and in its log lines
(bound with `sam3_service.logs.bind`).

A client's own `X-Request-ID` is kept when it is sane (1-128 of `A-Za-z0-9._:-`), so that one
id follows a request through a proxy and the service; otherwise the service makes one.
"""

from __future__ import annotations

import inspect
import re
import uuid
from collections.abc import Callable

from fastapi import FastAPI, Request
from starlette.datastructures import MutableHeaders
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from .. import logs
from .headers import HeadersMiddleware

HEADER = "X-Request-ID"
_SANE = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def current_request_id() -> str | None:
    """The id of the request being served, or None outside one."""
    return logs.bound("request_id")


class RequestIdMiddleware(HeadersMiddleware):
    """Give each HTTP request an id: in `request.state.request_id`, in the log context while the
    request runs, and in the `X-Request-ID` header of its response."""

    def prepare(self, scope: Scope) -> Callable[[MutableHeaders], None]:
        request_id = _incoming(scope) or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        def edit(headers: MutableHeaders) -> None:
            headers[HEADER] = request_id

        return edit

    async def forward(self, scope: Scope, receive: Receive, send: Send) -> None:
        with logs.bind(request_id=scope["state"]["request_id"]):
            await self.app(scope, receive, send)


def install_request_ids(app: FastAPI) -> None:
    """Add the middleware, and the id to the 500 answers made outside it (after
    `install_error_handlers`: Starlette answers unexpected errors in its outermost layer)."""
    app.add_middleware(RequestIdMiddleware)
    unexpected = app.exception_handlers[Exception]

    async def unexpected_with_id(request: Request, exc: Exception) -> Response:
        request_id = request.scope.get("state", {}).get("request_id")
        with logs.bind(request_id=request_id):
            response = unexpected(request, exc)
            if inspect.isawaitable(response):
                response = await response
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
