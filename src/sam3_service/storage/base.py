"""Object storage for uploaded media and results."""

from __future__ import annotations

from typing import Protocol


class BlobStore(Protocol):
    """Bytes under string keys such as `images/<sha256>` or `results/<task_id>/result.json`."""

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store `data` under `key`, replacing what was there."""
        ...

    async def get(self, key: str) -> bytes:
        """Return the bytes. Raises NotFound."""
        ...

    async def exists(self, key: str) -> bool:
        """Whether `key` holds data."""
        ...

    async def content_type(self, key: str) -> str:
        """The content type given to `put`. Raises NotFound."""
        ...

    async def keys(self) -> list[str]:
        """Every key in the store, sorted (backups list them)."""
        ...

    async def delete(self, key: str) -> None:
        """Remove `key`; a missing key is not an error."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
