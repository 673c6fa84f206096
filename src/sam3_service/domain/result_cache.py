"""Results answered before: the same model, owner, input and normalised prompt reuse them."""

from __future__ import annotations

from typing import Any

from ..errors import Sam3Error
from ..tasks.base import TaskRecord
from . import fleet, keys
from .services import Services


async def lookup(services: Services, record: TaskRecord, identity: dict[str, Any]) -> str | None:
    """The key of a stored result that answers `record` under its model version (else the
    current one), if any."""
    version = record.model_version or await model_version(services)
    if version is None:
        return None
    cached = await services.cache.get(_key(record, identity, version))
    if cached is None:
        return None
    key = cached.decode()
    return key if await services.blobs.exists(key) else None


async def remember(
    services: Services, record: TaskRecord, identity: dict[str, Any], version: str, key: str
) -> None:
    """Note that the result stored under `key` answers `record` under model `version`."""
    await services.cache.set(_key(record, identity, version), key.encode(), services.result_ttl_s)


async def model_version(services: Services) -> str | None:
    """The version of the model that runs unrouted tasks: this process's starting one, else
    the ready workers'."""
    if services.models is not None:
        try:
            info = services.models.host().info
        except Sam3Error:  # none to fall back on
            return None
        return info.version if info else None
    return await fleet.ready_model_version(services.cache)


def _key(record: TaskRecord, identity: dict[str, Any], version: str) -> str:
    return keys.result_cache_key(version, record.owner, record.input_key, identity)
