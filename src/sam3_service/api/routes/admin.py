"""`/v1/admin/keys`: make, list and revoke API keys (admin keys only)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ...auth import ApiKey, Scope
from ...domain.segment import PUBLIC_OWNER
from ..deps import ANONYMOUS
from ..security import AdminKeysDep, admin_keys

router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(admin_keys)])


class KeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scope: Scope = Scope.USER
    owner: str | None = Field(
        None,
        min_length=1,
        max_length=255,
        description="Owner of the tasks made with the key; default: the key's id.",
    )
    rate_per_min: int | None = Field(
        None,
        ge=1,
        le=1_000_000,
        description="Requests per minute; default: SAM3_DEFAULT_RATE_PER_MIN.",
    )

    @field_validator("owner")
    @classmethod
    def _own_owner(cls, value: str | None) -> str | None:
        """An owner name of its own: not blank, not the owner of the public pictures, and
        not the anonymous owner of the tasks made while authentication was off."""
        if value is None:
            return None
        if not value.strip():
            raise ValueError("the owner must not be blank")
        if value.strip() in (PUBLIC_OWNER, ANONYMOUS):
            raise ValueError(f"`{value.strip()}` is reserved; choose another owner")
        return value.strip()


class KeyView(BaseModel):
    id: str
    owner: str
    scope: Scope
    rate_per_min: int
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, key: ApiKey) -> KeyView:
        return cls.model_validate(key, from_attributes=True)


class CreatedKey(KeyView):
    key: str = Field(description="The API key itself: shown this once, never stored.")


class KeyList(BaseModel):
    keys: list[KeyView]


@router.get("/keys")
async def list_keys(
    keys: AdminKeysDep,
    include_revoked: bool = Query(False, description="Also list revoked keys."),
) -> KeyList:
    """Every API key (without its secret), oldest first."""
    listed = await keys.list(include_revoked=include_revoked)
    return KeyList(keys=[KeyView.of(key) for key in listed])


@router.post("/keys", status_code=201)
async def create_key(body: KeyRequest, keys: AdminKeysDep) -> CreatedKey:
    """Make an API key. The answer holds the key itself, which is never shown again."""
    new = await keys.create(scope=body.scope, owner=body.owner, rate_per_min=body.rate_per_min)
    return CreatedKey(**KeyView.of(new.key).model_dump(), key=new.secret)


@router.delete("/keys/{key_id}")
async def revoke_key(key_id: str, keys: AdminKeysDep) -> KeyView:
    """Revoke an API key: it is refused from now on, by every replica."""
    return KeyView.of(await keys.revoke(key_id))
