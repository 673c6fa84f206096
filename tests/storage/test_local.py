"""LocalBlobStore beyond the contract: no key leaves the root, writes are atomic, file URLs."""

from __future__ import annotations

from pathlib import Path

import pytest

from sam3_service.errors import ConfigError, InvalidInput, NotFound
from sam3_service.storage import open_blob_store
from sam3_service.storage.local import LocalBlobStore


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "blobs"


@pytest.fixture
def store(root: Path) -> LocalBlobStore:
    return LocalBlobStore(root)


@pytest.mark.parametrize(
    "key", ["../outside", "a/../../outside", "/tmp/outside", "..", ".", "a/..", "~/outside"]
)
async def test_no_key_reaches_outside_the_root(
    store: LocalBlobStore, tmp_path: Path, key: str
) -> None:
    with pytest.raises(InvalidInput):
        await store.put(key, b"x", "text/plain")
    for operation in (store.get, store.exists, store.delete, store.content_type):
        with pytest.raises(InvalidInput):
            await operation(key)
    assert [p.name for p in tmp_path.iterdir()] == []


async def test_a_key_is_a_file_under_the_root(store: LocalBlobStore, root: Path) -> None:
    await store.put("results/t1/result.json", b"{}", "application/json")
    assert (root / "results" / "t1" / "result.json").read_bytes() == b"{}"


async def test_the_content_type_is_kept_beside_the_blob(store: LocalBlobStore) -> None:
    await store.put("images/a", b"png", "image/png")
    assert await store.content_type("images/a") == "image/png"
    await store.put("images/a", b"jpg", "image/jpeg")
    assert await store.content_type("images/a") == "image/jpeg"
    await store.delete("images/a")
    with pytest.raises(NotFound):
        await store.content_type("images/a")


async def test_writes_leave_only_the_blob_and_its_sidecar(
    store: LocalBlobStore, root: Path
) -> None:
    for n in range(3):
        await store.put("dir/blob", b"v%d" % n, "text/plain")
    assert sorted(p.name for p in (root / "dir").iterdir()) == [".blob.content-type", "blob"]


async def test_a_key_inside_another_key_is_invalid(store: LocalBlobStore) -> None:
    await store.put("a", b"file", "text/plain")
    with pytest.raises(InvalidInput):
        await store.put("a/b", b"nested", "text/plain")
    await store.put("c/d", b"nested", "text/plain")
    with pytest.raises(InvalidInput):
        await store.put("c", b"file", "text/plain")
    with pytest.raises(NotFound):
        await store.get("c")
    assert not await store.exists("c")
    await store.delete("c")
    assert await store.get("c/d") == b"nested"


@pytest.mark.parametrize("url", ["file:///srv/blobs", "file://localhost/srv/blobs"])
def test_file_urls_open_a_local_store(url: str) -> None:
    store = open_blob_store(url)
    assert isinstance(store, LocalBlobStore)
    assert store.root == Path("/srv/blobs")


@pytest.mark.parametrize(
    "url", ["", "/srv/blobs", "file://otherhost/srv", "file://", "gs://bucket/x"]
)
def test_other_urls_are_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError):
        open_blob_store(url)
