"""Security headers on every answer: the page runs only its own scripts, is never framed, and
sends no referrer (a share link's token is in the page's URL); no answer is content-sniffed."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# No inline script or style element: the page loads js/app.js and style.css from here.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
# FastAPI's interactive docs load Swagger UI and ReDoc with inline scripts: they get the other
# headers, not the page's policy.
_DOCS_PATHS = ("/docs", "/redoc")


class HeadersMiddleware(ABC):
    """An ASGI middleware that edits the headers of every HTTP answer: `prepare` returns the
    edit for one request, and `forward` passes the request on (override to wrap it)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        edit = self.prepare(scope)

        async def send_edited(message: Message) -> None:
            if message["type"] == "http.response.start":
                edit(MutableHeaders(scope=message))
            await send(message)

        await self.forward(scope, receive, send_edited)

    @abstractmethod
    def prepare(self, scope: Scope) -> Callable[[MutableHeaders], None]:
        """The edit to make to this request's answer headers."""

    async def forward(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


class SecurityHeadersMiddleware(HeadersMiddleware):
    """Add `HEADERS`, and the content security policy, to every HTTP answer."""

    def prepare(self, scope: Scope) -> Callable[[MutableHeaders], None]:
        with_policy = not scope["path"].startswith(_DOCS_PATHS)

        def edit(headers: MutableHeaders) -> None:
            for name, value in HEADERS.items():
                headers.setdefault(name, value)
            if with_policy:
                headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)

        return edit
