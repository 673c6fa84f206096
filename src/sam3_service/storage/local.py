"""Blobs as files under one folder: the embedded store for development and single-host setups."""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

from ..errors import InvalidInput, NotFound
from ._keys import MISSING, check_key

__all__ = ["LocalBlobStore"]


class LocalBlobStore:
    """Each key is a file under `root`; its content type sits beside it in `.<name>.content-type`.

    Writes go to a temporary file that replaces the target, so readers never see half a blob.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store `data` under `key`, replacing what was there."""
        path = self._path(key)
        await asyncio.to_thread(self._write, path, data, content_type)

    async def get(self, key: str) -> bytes:
        """Return the bytes. Raises NotFound."""
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise NotFound(MISSING) from None

    async def content_type(self, key: str) -> str:
        """The content type given to `put`. Raises NotFound."""
        sidecar = _sidecar(self._path(key))
        try:
            return await asyncio.to_thread(sidecar.read_text, "utf-8")
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound(MISSING) from None

    async def exists(self, key: str) -> bool:
        """Whether `key` holds data."""
        return await asyncio.to_thread(self._path(key).is_file)

    async def keys(self) -> list[str]:
        """Every key in the store, sorted (hidden files, such as sidecars, are no keys)."""
        return await asyncio.to_thread(self._keys)

    async def delete(self, key: str) -> None:
        """Remove `key`; a missing key is not an error."""
        path = self._path(key)
        await asyncio.to_thread(_unlink_blob, path)

    async def aclose(self) -> None:
        """Nothing to release."""

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).split("/"))

    def _keys(self) -> list[str]:
        if not self.root.is_dir():
            return []
        found = []
        for folder, subfolders, files in os.walk(self.root):
            subfolders[:] = [name for name in subfolders if not name.startswith(".")]
            base = Path(folder).relative_to(self.root)
            found += [(base / name).as_posix() for name in files if not name.startswith(".")]
        return sorted(found)

    def _write(self, path: Path, data: bytes, content_type: str) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _write_atomic(path, data)
            _write_atomic(_sidecar(path), content_type.encode())
        except (NotADirectoryError, IsADirectoryError, FileExistsError) as exc:
            key = path.relative_to(self.root).as_posix()
            raise InvalidInput(f"blob key {key!r} clashes with another key", key=key) from exc


def _sidecar(path: Path) -> Path:
    return path.with_name(f".{path.name}.content-type")


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _unlink_blob(path: Path) -> None:
    for file in (path, _sidecar(path)):
        try:
            file.unlink(missing_ok=True)
        except (IsADirectoryError, NotADirectoryError):
            pass
