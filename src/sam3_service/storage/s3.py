"""Blobs in an S3 bucket (AWS, SeaweedFS, MinIO...) through boto3, whose calls run in threads."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from ..errors import BackendUnavailable, NotFound
from ._keys import MISSING, check_key

log = logging.getLogger(__name__)

__all__ = ["S3BlobStore"]

_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})  # a missing bucket is a setup error


class S3BlobStore:
    """Keys live under `prefix` in `bucket`. Credentials come from the usual boto3 chain.

    With `create_bucket`, a write into a missing bucket creates it (handy for dev servers).
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        create_bucket: bool = False,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.create_bucket = create_bucket
        config = Config(
            signature_version="s3v4",
            connect_timeout=2,
            read_timeout=30,
            retries={"mode": "standard", "max_attempts": 3},
            s3={"addressing_style": "path" if endpoint_url else "auto"},
        )
        self._client: Any = boto3.session.Session().client(
            "s3", endpoint_url=endpoint_url, region_name=region, config=config
        )

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store `data` under `key`, replacing what was there."""
        upload = functools.partial(
            self._client.put_object,
            Bucket=self.bucket,
            Key=self._name(key),
            Body=data,
            ContentType=content_type,
        )
        with _map_errors(key):
            try:
                await asyncio.to_thread(upload)
            except ClientError as exc:
                if not (self.create_bucket and _code(exc) == "NoSuchBucket"):
                    raise
                await asyncio.to_thread(self._create_bucket)
                await asyncio.to_thread(upload)

    async def get(self, key: str) -> bytes:
        """Return the bytes. Raises NotFound."""
        with _map_errors(key):
            return await asyncio.to_thread(self._read, self._name(key))

    async def exists(self, key: str) -> bool:
        """Whether `key` holds data."""
        try:
            with _map_errors(key):
                await asyncio.to_thread(
                    self._client.head_object, Bucket=self.bucket, Key=self._name(key)
                )
        except NotFound:
            return False
        return True

    async def content_type(self, key: str) -> str:
        """The content type given to `put`. Raises NotFound."""
        head = functools.partial(self._client.head_object, Bucket=self.bucket, Key=self._name(key))
        with _map_errors(key):
            response = await asyncio.to_thread(head)
        return str(response.get("ContentType", "application/octet-stream"))

    async def keys(self) -> list[str]:
        """Every key under this store's prefix, sorted."""
        with _map_errors(self.prefix or "/"):
            return await asyncio.to_thread(self._list)

    async def delete(self, key: str) -> None:
        """Remove `key`; a missing key is not an error (S3 deletes are idempotent)."""
        with _map_errors(key):
            await asyncio.to_thread(
                self._client.delete_object, Bucket=self.bucket, Key=self._name(key)
            )

    async def aclose(self) -> None:
        """Close the client's HTTP connections."""
        self._client.close()

    def _name(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _read(self, name: str) -> bytes:
        response = self._client.get_object(Bucket=self.bucket, Key=name)
        body: bytes = response["Body"].read()
        return body

    def _list(self) -> list[str]:
        start = f"{self.prefix}/" if self.prefix else ""
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=start
        )
        return sorted(
            item["Key"][len(start) :] for page in pages for item in page.get("Contents", [])
        )

    def _create_bucket(self) -> None:
        args: dict[str, Any] = {"Bucket": self.bucket}
        region = self._client.meta.region_name
        if region not in (None, "us-east-1"):
            args["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            self._client.create_bucket(**args)
        except ClientError as exc:
            if _code(exc) != "BucketAlreadyOwnedByYou":  # another writer created it first
                raise


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


@contextmanager
def _map_errors(key: str) -> Iterator[None]:
    """Turn boto3's exceptions into ours: 404s into NotFound, the rest into BackendUnavailable."""
    try:
        yield
    except ClientError as exc:
        if _code(exc) in _MISSING:
            raise NotFound(MISSING) from None
        log.warning("S3 refused a request: %s", exc)
        raise BackendUnavailable("S3 refused the request", s3_code=_code(exc)) from exc
    except BotoCoreError as exc:
        log.warning("S3 cannot be reached: %s", exc)  # the endpoint stays in the log
        raise BackendUnavailable("S3 cannot be reached") from exc
