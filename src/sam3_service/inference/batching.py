"""Dynamic batching: calls from several threads share one run of a batched function.

A caller announces itself (`arrival()`) when it enters the engine, before it knows whether it
needs the batched step at all, and submits its item once it does. The first submitter leads:
it waits up to `window_s` for the callers already inside the engine to submit too (never when
none is: a lone call is not delayed), takes the engine's lock, and then runs every item waiting
by then, `max_batch` at most. Items that arrive while a batch runs make up the next one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["Arrival", "Batcher"]

In = TypeVar("In")
Out = TypeVar("Out")


@dataclass
class _Slot(Generic[In, Out]):
    item: In
    done: bool = False
    value: Out | None = None
    error: BaseException | None = None


class Batcher(Generic[In, Out]):
    """Runs `run(items)` (one output per item, in order) on batches of concurrent submissions.

    `lock` is held while a batch runs (the engine's lock: one model run at a time).
    """

    def __init__(
        self,
        run: Callable[[list[In]], list[Out]],
        *,
        lock: AbstractContextManager[object],
        window_s: float = 0.0,
        max_batch: int = 1,
    ) -> None:
        if window_s < 0 or max_batch < 1:
            raise ValueError("window_s must not be negative and max_batch must be at least 1")
        self.window_s = window_s
        self.max_batch = max_batch
        self._run = run
        self._lock = lock
        self._cond = threading.Condition()
        self._pending: list[_Slot[In, Out]] = []
        self._arriving = 0  # callers inside the engine that have not submitted (nor left)
        self._leading = False

    @property
    def waiting(self) -> int:
        """Items submitted and not yet taken into a batch."""
        with self._cond:
            return len(self._pending)

    @contextmanager
    def arrival(self) -> Iterator[Arrival[In, Out]]:
        """Announce a caller that may submit an item before the block ends."""
        arrival = Arrival(self)
        with self._cond:
            self._arriving += 1
        try:
            yield arrival
        finally:
            if not arrival.submitted:
                with self._cond:
                    self._arriving -= 1
                    self._cond.notify_all()

    def _submit(self, item: In) -> Out:
        slot: _Slot[In, Out] = _Slot(item)
        with self._cond:
            self._arriving -= 1
            self._pending.append(slot)
            self._cond.notify_all()
        while True:
            with self._cond:
                while not slot.done and self._leading:
                    self._cond.wait()
                if slot.done:
                    break
                self._leading = True
            try:
                self._lead()
            finally:
                with self._cond:
                    self._leading = False
                    self._cond.notify_all()
        if slot.error is not None:
            raise slot.error
        return slot.value  # type: ignore[return-value]

    def _lead(self) -> None:
        """Wait for the callers on their way (at most the window), then run one batch."""
        deadline = time.monotonic() + self.window_s
        with self._cond:
            while len(self._pending) < self.max_batch and self._arriving > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
        with self._lock:
            with self._cond:
                batch = self._pending[: self.max_batch]
                del self._pending[: self.max_batch]
            try:
                outputs = self._run([slot.item for slot in batch])
                for slot, output in zip(batch, outputs, strict=True):
                    slot.value = output
            except BaseException as exc:
                for slot in batch:
                    slot.error = exc
        with self._cond:
            for slot in batch:
                slot.done = True
            self._cond.notify_all()


class Arrival(Generic[In, Out]):
    """One caller's place in a batcher: it submits at most one item."""

    def __init__(self, batcher: Batcher[In, Out]) -> None:
        self._batcher = batcher
        self.submitted = False

    def submit(self, item: In) -> Out:
        """Run `item` in the next batch and return its output (or raise the batch's error)."""
        if self.submitted:
            raise RuntimeError("an arrival submits one item")
        self.submitted = True
        return self._batcher._submit(item)
