"""An ASGI middleware that refuses request bodies over a size limit while they stream in."""

from __future__ import annotations

import json
from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import TooLarge
from .errors import error_body, log_client_error

SMALL_BODY_BYTES = 64 << 10  # every body but an upload's: prompts, options, share and key requests


class BodyTooLarge(TooLarge):
    """Raised from `receive` once a body passes the limit: a 413 wherever it surfaces."""


class BodyLimitMiddleware:
    """Answer 413 before reading a body whose Content-Length is over `max_bytes`, and stop
    reading one without a length as soon as it passes `max_bytes`.

    `larger` gives some paths their own limit and the setting that sets it (the routes that
    take uploads; videos are larger than images, and only `POST /v1/tasks` takes them)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        larger: Mapping[str, tuple[int, str]] | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.larger = dict(larger or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, setting = self.larger.get(scope["path"], (self.max_bytes, ""))
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(scope, send, _too_large_message(limit, declared, setting))
            return
        received = 0
        response_started = refused = False

        async def counting_receive() -> Message:
            # Past the limit, answer 413 at once and raise, so that reading stops: whoever
            # catches the error (FastAPI turns it into a 400) finds its answer dropped.
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    if not response_started and not refused:
                        refused = True
                        await _refuse(scope, send, _too_large_message(limit, received, setting))
                    raise BodyTooLarge(_too_large_message(limit, received, setting))
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if refused:
                return
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            pass  # answered 413 already, or the answer had begun


async def _refuse(scope: Scope, send: Send, message: str) -> None:
    log_client_error(scope["method"], scope["path"], 413, "too_large", message)
    body = json.dumps(error_body("too_large", message)).encode()
    headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _too_large_message(limit: int, size: int, setting: str) -> str:
    message = f"the request body has more than {limit} bytes (at least {size})"
    return f"{message}; the limit is set by {setting}" if setting else message
