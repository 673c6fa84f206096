"""A thread-safe LRU for encoder outputs, so a second prompt on one image skips the encoder."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from typing import Generic, TypeVar

import torch

__all__ = ["FeatureCache", "count_one", "tensor_bytes"]

V = TypeVar("V", torch.Tensor, Sequence[torch.Tensor])


def tensor_bytes(value: torch.Tensor | Sequence[torch.Tensor]) -> int:
    """Bytes held by a tensor or a sequence of tensors."""
    if isinstance(value, torch.Tensor):
        return value.nbytes
    return sum(tensor.nbytes for tensor in value)


def count_one(value: object) -> int:
    """Weigh every entry as one, to bound a cache by its number of entries."""
    return 1


class FeatureCache(Generic[V]):
    """Least recently used entries are evicted once their total weight exceeds `capacity`.

    Weight is bytes by default (`tensor_bytes`); pass `weigh=count_one` to count entries.
    A value heavier than the whole capacity is not stored. Keys are typically
    `(image_sha256, head)`.
    """

    def __init__(self, capacity: int, *, weigh: Callable[[V], int] = tensor_bytes) -> None:
        self.capacity = capacity
        self._weigh: Callable[[V], int] = weigh
        self._entries: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self._weight = 0
        self._lock = threading.Lock()

    @property
    def weight(self) -> int:
        """Total weight held now: bytes, or entries with `count_one`."""
        return self._weight

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable) -> V | None:
        """The value for `key`, now the most recently used, or None."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key: Hashable, value: V) -> None:
        """Store `value`, evicting the least recently used entries to make room."""
        weight = self._weigh(value)
        with self._lock:
            self._discard(key)
            if weight > self.capacity:
                return
            while self._weight + weight > self.capacity:
                self._discard(next(iter(self._entries)))
            self._entries[key] = (value, weight)
            self._weight += weight

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._entries.clear()
            self._weight = 0

    def _discard(self, key: Hashable) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._weight -= entry[1]
