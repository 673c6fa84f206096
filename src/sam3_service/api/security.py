"""Who is calling and how often: API keys with the scopes `user` and `admin`, and a rate limit
per key. Enforced here, in the service, so that they hold behind any proxy.

`AuthMiddleware` checks the key of every request to an API route before a byte of its body is
read (FastAPI reads a route's body before its dependencies run), and makes the caller
`request.state.caller`. It lets through only the public paths below without a key; the docs and
the web page's files are not API routes and stay public too. `authenticate`, an app-wide
dependency, returns that caller (and shows the key schemes in the OpenAPI document). Admin
routes also depend on `admin_keys`. With SAM3_AUTH_ENABLED=false (`services.keys` is None)
every caller is the anonymous, non-admin user.
"""

from __future__ import annotations

import math
import re
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.routing import compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

from ..auth import SECRET_PREFIX, ApiKey, KeyStore, RateLimiter
from ..auth import Scope as KeyScope
from ..domain.services import Services
from ..errors import Forbidden, RateLimited, Sam3Error, Unauthorized
from .deps import Caller, ServicesDep, get_caller
from .errors import error_response, log_client_error, status_of

# Probes, metrics, the sample pictures the web page shows, and share links (HMAC-signed).
PUBLIC_PATHS = frozenset({"/health", "/ready", "/metrics", "/v1/examples"})
PUBLIC_PREFIXES = ("/v1/shared/", "/v1/examples/")

_BEARER = HTTPBearer(auto_error=False, description="`Authorization: Bearer sam3_...`")
_API_KEY = APIKeyHeader(name="X-API-Key", auto_error=False, description="`X-API-Key: sam3_...`")


class AuthMiddleware:
    """Authenticate each request to an API route from its headers alone, before its body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        services: Services | None = scope.get("state", {}).get("services")
        if scope["type"] != "http" or services is None or services.keys is None:
            await self.app(scope, receive, send)
            return
        if not _is_public_path(scope) and _is_api_route(scope):
            request = Request(scope)
            try:
                scope["state"]["caller"] = await _caller(services, request)
            except Sam3Error as exc:
                log_client_error(
                    scope["method"], scope["path"], status_of(exc), exc.code, exc.message
                )
                await error_response(exc)(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def authenticate(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
    api_key: Annotated[str | None, Depends(_API_KEY)],
) -> Caller:
    """The caller that `AuthMiddleware` found (the anonymous user with authentication off)."""
    return get_caller(request)


async def _caller(services: Services, request: Request) -> Caller:
    """The caller named by the request's API key, once the request is counted against the key's
    rate. Raises Unauthorized or RateLimited."""
    assert services.keys is not None
    key = await _valid_key(services.keys, _secret(request))
    if services.limiter is not None:
        await _count(services.limiter, key)
    return Caller(owner=key.owner, admin=key.scope is KeyScope.ADMIN, key_id=key.id)


def _secret(request: Request) -> str | None:
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials:
        return credentials.strip()
    return request.headers.get("x-api-key")


def _is_public_path(scope: Scope) -> bool:
    path = scope["path"].removeprefix(scope.get("root_path", ""))
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def _is_api_route(scope: Scope) -> bool:
    """Whether the path is one of the app's API routes (whatever the method): a path of its
    OpenAPI document, so that every route added later is covered."""
    app = scope["app"]
    patterns: list[re.Pattern[str]] | None = getattr(app.state, "api_paths", None)
    if patterns is None:
        patterns = [compile_path(path)[0] for path in app.openapi()["paths"]]
        app.state.api_paths = patterns
    return any(pattern.match(scope["path"]) for pattern in patterns)


async def admin_keys(
    caller: Annotated[Caller, Depends(authenticate)], services: ServicesDep
) -> KeyStore:
    """The API key store, for a caller whose key has the `admin` scope. Raises Forbidden."""
    if services.keys is None:
        raise Forbidden("admin routes need API keys: set SAM3_AUTH_ENABLED=true, use an admin key")
    if not caller.admin:
        raise Forbidden("this route needs an admin key; this key's scope is `user`")
    return services.keys


AdminKeysDep = Annotated[KeyStore, Depends(admin_keys)]


async def _valid_key(keys: KeyStore, secret: str | None) -> ApiKey:
    if not secret:
        raise Unauthorized(
            "this route needs an API key: send `Authorization: Bearer <key>` or `X-API-Key: <key>`"
        )
    if not secret.startswith(SECRET_PREFIX):
        raise Unauthorized(f"unknown API key (keys start with `{SECRET_PREFIX}`)")
    key = await keys.lookup(secret)
    if key is None:
        raise Unauthorized("unknown API key")
    if key.revoked_at is not None:
        raise Unauthorized("this API key was revoked")
    return key


async def _count(limiter: RateLimiter, key: ApiKey) -> None:
    verdict = await limiter.acquire(key.id, per_min=key.rate_per_min)
    if not verdict.allowed:
        wait_s = math.ceil(verdict.retry_after_s)
        raise RateLimited(
            f"this API key allows {key.rate_per_min} requests per minute; retry in {wait_s} s",
            retry_after=wait_s,
        )
