"""Share links: HMAC-signed, expiring tokens that open one task's result read-only."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from ..errors import Conflict, Forbidden, InvalidInput
from ..tasks.base import TaskRecord, TaskStatus
from . import jobs
from .services import Services

_MAX_TTL_S = 365 * 24 * 3600


@dataclass(frozen=True)
class Share:
    token: str
    expires_at: datetime


def sign(secret: bytes, task_id: str, expires: int) -> str:
    """`<task_id>.<expiry>.<signature>`, url-safe; neither guessable nor extendable."""
    payload = f"{task_id}.{expires}"
    return f"{payload}.{_signature(secret, payload)}"


def verify(secret: bytes, token: str, *, now: float | None = None) -> str:
    """The task id of a valid, unexpired token. Raises Forbidden."""
    try:
        task_id, expires_text, signature = token.rsplit(".", 2)
        expires = int(expires_text)
    except ValueError:
        raise Forbidden("this share link is malformed") from None
    expected = _signature(secret, f"{task_id}.{expires}")
    if not hmac.compare_digest(signature, expected):
        raise Forbidden("this share link is not valid")
    if (now if now is not None else time.time()) >= expires:
        raise Forbidden("this share link has expired; ask its owner for a new one")
    return task_id


async def create(services: Services, task_id: str, *, owner: str | None, ttl_s: int) -> Share:
    """A link to a succeeded task of `owner`. Raises NotFound, Conflict or InvalidInput."""
    if not 1 <= ttl_s <= _MAX_TTL_S:
        raise InvalidInput(f"ttl_s must be between 1 and {_MAX_TTL_S} seconds, got {ttl_s}")
    record = await jobs.get(services, task_id, owner=owner)
    if record.status is not TaskStatus.SUCCEEDED:
        raise Conflict(f"task {task_id} is {record.status.value}; only results can be shared")
    expires = int(time.time()) + ttl_s
    token = sign(services.share_secret, task_id, expires)
    return Share(token=token, expires_at=datetime.fromtimestamp(expires, UTC))


async def open_shared(services: Services, token: str) -> TaskRecord:
    """The task a valid token points to. Raises Forbidden or NotFound."""
    return await services.store.get(verify(services.share_secret, token))


def _signature(secret: bytes, payload: str) -> str:
    digest = hmac.new(secret, payload.encode(), hashlib.sha256).digest()[:18]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")
