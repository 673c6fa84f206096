"""S3BlobStore beyond the contract, against SeaweedFS: buckets, prefixes, signing, failures."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
import uuid
from urllib.parse import urlsplit

import pytest

from sam3_service.errors import BackendUnavailable, ConfigError, NotFound
from sam3_service.storage import open_blob_store
from sam3_service.storage.s3 import S3BlobStore


def store_for(s3_url: str, endpoint: str, *, create_bucket: bool = False) -> S3BlobStore:
    parts = urlsplit(s3_url)
    return S3BlobStore(parts.netloc, parts.path, endpoint_url=endpoint, create_bucket=create_bucket)


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as response:
        body: bytes = response.read()
    return body


@pytest.mark.s3
async def test_stores_with_other_prefixes_do_not_see_each_other(
    s3_url: str, s3_endpoint_url: str
) -> None:
    first = store_for(s3_url + "/one", s3_endpoint_url)
    second = store_for(s3_url + "/two", s3_endpoint_url)
    await first.put("k", b"first", "text/plain")
    assert not await second.exists("k")
    with pytest.raises(NotFound):
        await second.get("k")
    whole_bucket = store_for(s3_url, s3_endpoint_url)
    assert await whole_bucket.get("one/k") == b"first"
    for store in (first, second, whole_bucket):
        await store.aclose()


@pytest.mark.s3
async def test_a_missing_bucket_is_created_only_when_asked(s3_endpoint_url: str) -> None:
    url = f"s3://sam3-new-{uuid.uuid4().hex[:8]}/p"
    plain = store_for(url, s3_endpoint_url)
    with pytest.raises(BackendUnavailable):
        await plain.put("k", b"v", "text/plain")
    with pytest.raises(BackendUnavailable):
        await plain.get("k")
    creating = store_for(url, s3_endpoint_url, create_bucket=True)
    await creating.put("k", b"v", "text/plain")
    assert await plain.get("k") == b"v"
    await plain.aclose()
    await creating.aclose()


@pytest.mark.s3
async def test_wrong_credentials_raise_backend_unavailable(
    s3_url: str, s3_endpoint_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    store = store_for(s3_url, s3_endpoint_url)
    with pytest.raises(BackendUnavailable):
        await store.get("k")
    await store.aclose()


async def test_an_unreachable_server_raises_backend_unavailable_quickly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    store = S3BlobStore("bucket", "p", endpoint_url="http://127.0.0.1:1")
    started = time.monotonic()
    for operation in (store.get, store.exists, store.delete):
        with pytest.raises(BackendUnavailable):
            await operation("k")
    assert time.monotonic() - started < 10
    await store.aclose()


def test_an_s3_url_names_the_bucket_and_prefix() -> None:
    store = open_blob_store("s3://my-bucket/some/prefix/", endpoint_url="http://127.0.0.1:1")
    assert isinstance(store, S3BlobStore)
    assert (store.bucket, store.prefix) == ("my-bucket", "some/prefix")


def test_a_bucket_name_needs_three_characters() -> None:
    with pytest.raises(ConfigError):
        open_blob_store("s3://ab/prefix")
