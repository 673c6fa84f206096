"""Who is calling and how often: API keys with the scopes `user` and `admin`, and a rate limit
per key. Enforced here, in the service, so that they hold behind any proxy.

`authenticate` runs before every API route (`create_app` makes it an app-wide dependency). It
lets through only the public paths below without a key; the docs and the web page's files are
not API routes and stay public too. Admin routes also depend on `admin_keys`. With
SAM3_AUTH_ENABLED=false (`services.keys` is None) every caller is the anonymous, non-admin user.
"""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from ..auth import SECRET_PREFIX, ApiKey, KeyStore, RateLimiter, Scope
from ..errors import Forbidden, RateLimited, Unauthorized
from .deps import Caller, ServicesDep, get_caller

# Probes, metrics, the sample pictures the web page shows, and share links (HMAC-signed).
PUBLIC_PATHS = frozenset({"/health", "/ready", "/metrics", "/v1/examples"})
PUBLIC_PREFIXES = ("/v1/shared/", "/v1/examples/")

_BEARER = HTTPBearer(auto_error=False, description="`Authorization: Bearer sam3_...`")
_API_KEY = APIKeyHeader(name="X-API-Key", auto_error=False, description="`X-API-Key: sam3_...`")


async def authenticate(
    request: Request,
    services: ServicesDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
    api_key: Annotated[str | None, Depends(_API_KEY)],
) -> Caller:
    """The caller named by the request's API key, once the request is counted against the key's
    rate; it becomes `request.state.caller`. Raises Unauthorized or RateLimited."""
    if services.keys is None or is_public(request):
        return get_caller(request)
    key = await _valid_key(services.keys, bearer.credentials if bearer else api_key)
    if services.limiter is not None:
        await _count(services.limiter, key)
    caller = Caller(owner=key.owner, admin=key.scope is Scope.ADMIN, key_id=key.id)
    request.state.caller = caller
    return caller


def is_public(request: Request) -> bool:
    """Whether the request's path is served without an API key."""
    path = request.scope["path"].removeprefix(request.scope.get("root_path", ""))
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


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
