"""The BlobStore contract, run against the file store and a real S3 server (SeaweedFS)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sam3_service.errors import InvalidInput, NotFound
from sam3_service.storage import BlobStore, open_blob_store


@pytest.fixture(params=["file", pytest.param("s3", marks=pytest.mark.s3)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BlobStore]:
    if request.param == "file":
        blobs = open_blob_store(tmp_path.as_uri())
    else:
        endpoint = request.getfixturevalue("s3_endpoint_url")
        blobs = open_blob_store(request.getfixturevalue("s3_url"), endpoint_url=endpoint)
    yield blobs
    await blobs.aclose()


async def test_put_then_get_returns_the_bytes(store: BlobStore) -> None:
    data = bytes(range(256)) * 10
    await store.put("images/abc", data, "image/png")
    assert await store.get("images/abc") == data


async def test_put_replaces_the_old_value(store: BlobStore) -> None:
    await store.put("results/t1/result.json", b"old", "application/json")
    await store.put("results/t1/result.json", b"new", "application/json")
    assert await store.get("results/t1/result.json") == b"new"


async def test_empty_blob_round_trips(store: BlobStore) -> None:
    await store.put("empty", b"", "application/octet-stream")
    assert await store.get("empty") == b""
    assert await store.exists("empty")


async def test_missing_key_raises_not_found(store: BlobStore) -> None:
    with pytest.raises(NotFound):
        await store.get("never-written")


async def test_exists_follows_put_and_delete(store: BlobStore) -> None:
    assert not await store.exists("a/b.bin")
    await store.put("a/b.bin", b"x", "application/octet-stream")
    assert await store.exists("a/b.bin")
    await store.delete("a/b.bin")
    assert not await store.exists("a/b.bin")
    with pytest.raises(NotFound):
        await store.get("a/b.bin")


async def test_deleting_a_missing_key_is_not_an_error(store: BlobStore) -> None:
    await store.delete("never-written")


async def test_concurrent_puts_keep_every_blob(store: BlobStore) -> None:
    keys = [f"many/{n}" for n in range(20)]
    await asyncio.gather(*(store.put(key, key.encode(), "text/plain") for key in keys))
    assert await asyncio.gather(*(store.get(key) for key in keys)) == [k.encode() for k in keys]


@pytest.mark.parametrize(
    "key",
    [
        "",
        "../escape",
        "a/../../b",
        "/absolute",
        "a//b",
        "a/./b",
        "trailing/",
        ".hidden",
        "a b",
        "caf\u00e9",
        "a\\b",
        "x" * 1025,
    ],
)
async def test_invalid_keys_raise_invalid_input(store: BlobStore, key: str) -> None:
    with pytest.raises(InvalidInput):
        await store.put(key, b"x", "text/plain")
    with pytest.raises(InvalidInput):
        await store.get(key)


async def test_keys_lists_every_key_and_content_types_are_kept(store: BlobStore) -> None:
    assert await store.keys() == []
    await store.put("results/t1/result.json", b"{}", "application/json")
    await store.put("images/abc", b"png", "image/png")
    assert await store.keys() == ["images/abc", "results/t1/result.json"]
    assert await store.content_type("images/abc") == "image/png"
    with pytest.raises(NotFound):
        await store.content_type("images/missing")
