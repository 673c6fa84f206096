"""API keys, their store, and the rate limiter that counts each key's requests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

SECRET_PREFIX = "sam3_"  # every key starts with it, so that a leaked one is easy to recognise


class Scope(StrEnum):
    """What a key may do: `user` works with its owner's tasks, `admin` with everything."""

    USER = "user"
    ADMIN = "admin"


@dataclass(frozen=True)
class ApiKey:
    """A stored key, without its secret (only a hash of the secret is kept)."""

    id: str
    owner: str  # the owner of the tasks made with this key
    scope: Scope
    rate_per_min: int
    created_at: datetime
    revoked_at: datetime | None = None


@dataclass(frozen=True)
class NewKey:
    """A key just made: `secret` is the key itself, shown once and never stored."""

    key: ApiKey
    secret: str


class KeyStore(Protocol):
    """Durable API keys, found by their secret."""

    async def create(
        self, *, scope: Scope, owner: str | None = None, rate_per_min: int | None = None
    ) -> NewKey:
        """Make a key; the owner defaults to the key's id, the rate to the store's default.

        Raises ValueError for a rate under 1 or an empty owner.
        """
        ...

    async def lookup(self, secret: str) -> ApiKey | None:
        """The key with this secret, revoked or not; None if there is none."""
        ...

    async def get(self, key_id: str) -> ApiKey:
        """The key with this id, revoked or not. Raises NotFound."""
        ...

    async def list(self, *, include_revoked: bool = False) -> list[ApiKey]:
        """Every key, oldest first."""
        ...

    async def revoke(self, key_id: str) -> ApiKey:
        """Revoke a key (again is a no-op that keeps the first time). Raises NotFound."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


@dataclass(frozen=True)
class RateVerdict:
    """Whether a request may go ahead and, if not, how many seconds until one may."""

    allowed: bool
    retry_after_s: float = 0.0


class RateLimiter(Protocol):
    """Counts requests per name (an API key id) against a rate, shared by every replica that
    uses the same backend. A backend failure lets requests through and adds to `failures`."""

    @property
    def failures(self) -> int:
        """Requests let through unchecked because the backend failed."""
        ...

    async def acquire(self, name: str, *, per_min: int) -> RateVerdict:
        """Count one request for `name`, allowing `per_min` per minute (and a burst of as many).

        Raises ValueError for a rate under 1.
        """
        ...

    async def ping(self) -> None:
        """Raise BackendUnavailable unless the backend answers (for readiness)."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
