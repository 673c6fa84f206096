"""Keys: their shapes are stored (in task rows and caches), so they stay as they were."""

from __future__ import annotations

import hashlib

from sam3_service.domain import keys
from sam3_service.storage._keys import check_key

SHA = "ab" * 32


def test_blob_keys_keep_their_stored_shapes() -> None:
    assert keys.image_key(SHA) == f"images/{SHA}" and keys.image_sha256(f"images/{SHA}") == SHA
    assert keys.mask_key(b"png") == "masks/" + hashlib.sha256(b"png").hexdigest()
    assert keys.video_key(SHA) == f"videos/{SHA}"
    assert keys.result_key("t1") == "results/t1/result.json"
    assert keys.task_file_key("t1", "overlay.mp4") == "results/t1/overlay.mp4"
    for key in (keys.image_key(SHA), keys.mask_key(b"x"), keys.result_key("t1")):
        assert check_key(key) == key


def test_cache_keys_separate_owners_models_and_requests() -> None:
    identity = {"prompt": "cat"}
    base = keys.result_cache_key("v1", "alice", keys.image_key(SHA), identity)
    assert base.startswith("result:")
    others = {
        keys.result_cache_key("v2", "alice", keys.image_key(SHA), identity),
        keys.result_cache_key("v1", "bob", keys.image_key(SHA), identity),
        keys.result_cache_key("v1", "alice", keys.image_key(SHA), {"prompt": "dog"}),
    }
    assert base not in others and len(others) == 3
    inflight = keys.inflight_key("alice", keys.image_key(SHA), identity)
    assert inflight.startswith("inflight:") and inflight != keys.inflight_key("bob", SHA, identity)
    assert keys.feature_key("alice", SHA) != keys.feature_key("bob", SHA)
