"""Object storage: the BlobStore interface and `open_blob_store`, which picks one by URL."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

from ..errors import ConfigError
from .base import BlobStore

__all__ = ["BlobStore", "open_blob_store"]


def open_blob_store(
    url: str, *, endpoint_url: str | None = None, create_bucket: bool = False
) -> BlobStore:
    """A store for `file:///dir` or `s3://bucket/prefix` (`endpoint_url` for non-AWS servers).

    Raises ConfigError for any other URL.
    """
    parts = urlsplit(url)
    if parts.scheme == "s3":
        if len(parts.netloc) < 3:
            raise ConfigError(f"S3 bucket names have at least 3 characters, got {url!r}")
        from .s3 import S3BlobStore

        return S3BlobStore(
            parts.netloc,
            parts.path.strip("/"),
            endpoint_url=endpoint_url,
            create_bucket=create_bucket,
        )
    if parts.scheme == "file" and parts.netloc in ("", "localhost") and parts.path:
        from .local import LocalBlobStore

        return LocalBlobStore(Path(url2pathname(parts.path)))
    raise ConfigError(f"the storage URL must be file:///dir or s3://bucket/prefix, got {url!r}")
