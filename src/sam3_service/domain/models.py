"""The model's lifecycle: loaded once in the background, reported as starting, ready or failed."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from enum import StrEnum
from typing import TypeVar

from ..errors import Busy, ModelNotReady
from ..inference.base import Engine, ModelInfo

log = logging.getLogger(__name__)
T = TypeVar("T")
_LOAD_POLL_S = 0.1


class ModelState(StrEnum):
    STARTING = "starting"
    READY = "ready"
    FAILED = "failed"


class ModelHost:
    """Owns one engine: loads it on a thread, then runs every inference on one dedicated thread.

    One inference thread means one model is never run by two threads at once, and the event loop
    never blocks on torch. `max_pending` bounds the calls waiting for that thread. An engine that
    batches concurrent calls (`max_batch` > 1) gets that many threads, and serialises its model
    runs itself.
    """

    def __init__(self, name: str, load: Callable[[], Engine], *, max_pending: int = 64) -> None:
        self.name = name
        self._load = load
        self._max_pending = max_pending
        self._pending = 0
        self._engine: Engine | None = None
        self._state = ModelState.STARTING
        self._reason = f"loading the model {name!r}"
        self._started = time.monotonic()
        self.load_seconds: float | None = None
        self.inferences = 0  # finished calls of `run`, and their seconds on the inference thread
        self.inference_seconds = 0.0
        self._counting = threading.Lock()  # batching engines run calls on several threads
        self._loaded = threading.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sam3-inference")

    @property
    def state(self) -> ModelState:
        return self._state

    @property
    def reason(self) -> str:
        """Why the model is not ready (empty once it is)."""
        return self._reason

    @property
    def pending(self) -> int:
        """Calls of `run` waiting for, or on, the inference thread."""
        return self._pending

    @property
    def info(self) -> ModelInfo | None:
        return self._engine.info if self._engine else None

    def start(self) -> None:
        """Begin loading on a background thread; returns at once."""
        threading.Thread(target=self._load_now, name="sam3-model-loader", daemon=True).start()

    def load_blocking(self, *, log_failure: bool = True) -> Engine:
        """Load on this thread (the CLI's path) and return the engine, or raise ModelNotReady
        (and log it, unless the caller says it itself)."""
        self._load_now(report=log_failure)
        return self.engine()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until loading ended (ready or failed); False on timeout."""
        return self._loaded.wait(timeout)

    async def until_loaded(self, timeout_s: float) -> bool:
        """Wait, without blocking the event loop, until loading ended (ready or failed), at
        most `timeout_s`; False on timeout."""
        deadline = time.monotonic() + timeout_s
        while not self._loaded.is_set():
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(_LOAD_POLL_S)
        return True

    def engine(self) -> Engine:
        """The loaded engine. Raises ModelNotReady while starting or after a failed load."""
        if self._engine is None:
            raise ModelNotReady(self._reason, state=self._state.value)
        return self._engine

    async def run(self, fn: Callable[[Engine], T]) -> T:
        """Run `fn(engine)` on the inference thread. Raises ModelNotReady or Busy."""
        engine = self.engine()
        if self._pending >= self._max_pending:
            raise Busy(f"{self._pending} inferences are waiting; try again shortly")
        self._pending += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, self._timed, fn, engine)
        finally:
            self._pending -= 1

    def _timed(self, fn: Callable[[Engine], T], engine: Engine) -> T:
        started = time.perf_counter()
        try:
            return fn(engine)
        finally:
            with self._counting:
                self.inferences += 1
                self.inference_seconds += time.perf_counter() - started

    def close(self) -> None:
        """Stop the inference thread and free the model."""
        self._executor.shutdown(wait=True, cancel_futures=True)
        if self._engine is not None:
            self._engine.close()
            self._engine = None

    def _load_now(self, *, report: bool = True) -> None:
        try:
            engine = self._load()
        except Exception as exc:  # any load failure is reported through /ready, not raised
            self._state = ModelState.FAILED
            self._reason = str(exc)
            if report:
                log.error("The model %r could not be loaded:\n%s", self.name, exc)
        else:
            if engine.max_batch > 1:  # its calls gather into batches: let them wait in it at once
                self._executor = ThreadPoolExecutor(
                    max_workers=engine.max_batch, thread_name_prefix="sam3-inference"
                )
            self._engine = engine
            self.load_seconds = time.monotonic() - self._started
            self._state = ModelState.READY
            self._reason = ""
            log.info(
                "Model %s (version %s) ready on %s/%s in %.1f s%s",
                engine.info.name,
                engine.info.version,
                engine.info.device,
                engine.info.dtype,
                self.load_seconds,
                " -- RANDOM WEIGHTS, masks are meaningless" if engine.info.random else "",
            )
        finally:
            self._loaded.set()
