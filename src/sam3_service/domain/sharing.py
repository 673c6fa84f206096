"""Share links: HMAC-signed, expiring tokens that open one task's result read-only.

A token names a share record, not the task. The link works while the record exists (its owner
may delete it), until it expires, and while the API key that made it is not revoked.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from ..errors import Conflict, Forbidden, InvalidInput, NotFound
from ..tasks.base import ShareRecord, TaskRecord, TaskStatus
from . import jobs
from .services import Services

MAX_TTL_S = 365 * 24 * 3600
# `<share id>.<expiry, unix seconds>.<signature>`: url-safe base64 and digits, nothing else.
_TOKEN = re.compile(r"([A-Za-z0-9_-]{16,43})\.([0-9]{1,12})\.([A-Za-z0-9_-]{24})")
_INVALID = "this share link is not valid"


@dataclass(frozen=True)
class Share:
    token: str
    expires_at: datetime


def sign(secret: bytes, share_id: str, expires: int) -> str:
    """`<share_id>.<expiry>.<signature>`, url-safe; neither guessable nor extendable."""
    payload = f"{share_id}.{expires}"
    return f"{payload}.{_signature(secret, payload)}"


def verify(secret: bytes, token: str, *, now: float | None = None) -> str:
    """The share id of a well-formed, correctly signed, unexpired token. Raises Forbidden."""
    match = _TOKEN.fullmatch(token)
    if match is None:
        raise Forbidden("this share link is malformed")
    share_id, expires_text, signature = match.groups()
    expected = _signature(secret, f"{share_id}.{expires_text}")
    if not hmac.compare_digest(signature.encode(), expected.encode()):
        raise Forbidden(_INVALID)
    if (now if now is not None else time.time()) >= int(expires_text):
        raise Forbidden("this share link has expired; ask its owner for a new one")
    return share_id


async def create(
    services: Services, task_id: str, *, owner: str | None, key_id: str | None, ttl_s: int
) -> Share:
    """A link to a succeeded task of `owner`, made with the key `key_id`.

    Raises NotFound, Conflict or InvalidInput."""
    if not 1 <= ttl_s <= MAX_TTL_S:
        raise InvalidInput(f"ttl_s must be between 1 and {MAX_TTL_S} seconds, got {ttl_s}")
    record = await jobs.get(services, task_id, owner=owner)
    if record.status is not TaskStatus.SUCCEEDED:
        raise Conflict(f"task {task_id} is {record.status.value}; only results can be shared")
    expires = int(time.time()) + ttl_s
    expires_at = datetime.fromtimestamp(expires, UTC)
    share_id = secrets.token_urlsafe(16)
    await services.shares.add_share(
        ShareRecord(share_id, record.id, record.owner, key_id, expires_at=expires_at)
    )
    return Share(token=sign(services.share_secret, share_id, expires), expires_at=expires_at)


async def delete(services: Services, task_id: str, *, owner: str | None) -> int:
    """Withdraw every share link of `owner`'s task; returns how many. Raises NotFound."""
    record = await jobs.get(services, task_id, owner=owner)
    return await services.shares.delete_shares(record.id)


async def open_shared(services: Services, token: str) -> TaskRecord:
    """The task a valid token points to. Raises Forbidden (the same for a withdrawn link as for
    one made by a key since revoked) or NotFound."""
    share_id = verify(services.share_secret, token)
    try:
        share = await services.shares.get_share(share_id)
    except NotFound:
        raise Forbidden(_INVALID) from None
    if share.key_id is not None and services.keys is not None:
        try:
            key = await services.keys.get(share.key_id)
        except NotFound:
            raise Forbidden(_INVALID) from None
        if key.revoked_at is not None:
            raise Forbidden(_INVALID)
    return await services.store.get(share.task_id)


def _signature(secret: bytes, payload: str) -> str:
    digest = hmac.new(secret, payload.encode(), hashlib.sha256).digest()[:18]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")
