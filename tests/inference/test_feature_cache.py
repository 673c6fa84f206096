"""FeatureCache: an LRU bounded by bytes (or entries), safe to share between threads."""

from __future__ import annotations

import threading

import torch

from sam3_service.inference.feature_cache import FeatureCache, count_one, tensor_bytes


def kib(n: int) -> torch.Tensor:
    return torch.zeros(n * 256, dtype=torch.float32)  # n KiB


def test_tensor_bytes_counts_tensors_and_sequences() -> None:
    assert tensor_bytes(kib(1)) == 1024
    assert tensor_bytes([kib(1), kib(2)]) == 3 * 1024


def test_evicts_least_recently_used_by_bytes() -> None:
    cache: FeatureCache[torch.Tensor] = FeatureCache(3 * 1024)
    cache.put(("a", "backbone"), kib(1))
    cache.put(("b", "backbone"), kib(1))
    cache.put(("c", "backbone"), kib(1))
    assert cache.get(("a", "backbone")) is not None  # now the most recent
    cache.put(("d", "backbone"), kib(1))
    assert cache.get(("b", "backbone")) is None
    assert cache.get(("a", "backbone")) is not None
    assert len(cache) == 3
    assert cache.weight == 3 * 1024


def test_value_larger_than_capacity_is_not_stored() -> None:
    cache: FeatureCache[torch.Tensor] = FeatureCache(1024)
    cache.put("small", kib(1))
    cache.put("huge", kib(2))
    assert cache.get("huge") is None
    assert cache.get("small") is not None


def test_zero_capacity_stores_nothing() -> None:
    cache: FeatureCache[torch.Tensor] = FeatureCache(0)
    cache.put("a", kib(1))
    assert len(cache) == 0


def test_put_replaces_and_reweighs() -> None:
    cache: FeatureCache[torch.Tensor] = FeatureCache(10 * 1024)
    cache.put("a", kib(4))
    cache.put("a", kib(1))
    assert cache.weight == 1024
    assert len(cache) == 1


def test_count_one_bounds_entries() -> None:
    cache: FeatureCache[torch.Tensor] = FeatureCache(2, weigh=count_one)
    for key in "abc":
        cache.put(key, kib(100))
    assert [cache.get(key) is not None for key in "abc"] == [False, True, True]


def test_clear() -> None:
    cache: FeatureCache[torch.Tensor] = FeatureCache(1 << 20)
    cache.put("a", kib(1))
    cache.clear()
    assert (len(cache), cache.weight, cache.get("a")) == (0, 0, None)


def test_threads_keep_the_weight_consistent() -> None:
    cache: FeatureCache[torch.Tensor] = FeatureCache(8 * 1024)

    def churn(offset: int) -> None:
        for i in range(300):
            cache.put(offset + i % 20, kib(1))
            cache.get(offset + (i * 7) % 20)

    threads = [threading.Thread(target=churn, args=(n * 100,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert cache.weight == len(cache) * 1024 <= 8 * 1024
