"""Notices within one process: the embedded notifier, on the process's event loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

__all__ = ["MemoryNotifier"]


class MemoryNotifier:
    """Listeners by key; `notify` sets their events. Every call runs on one event loop."""

    def __init__(self) -> None:
        self._listeners: dict[str, set[asyncio.Event]] = {}

    @property
    def listening(self) -> bool:
        """Always: notices within a process cannot be lost."""
        return True

    async def notify(self, key: str) -> None:
        """Wake every listener of `key` in this process."""
        for event in self._listeners.get(key, ()):
            event.set()

    @asynccontextmanager
    async def listen(self, key: str) -> AsyncIterator[asyncio.Event]:
        """An event set at each notice for `key` while the block runs."""
        event = asyncio.Event()
        listeners = self._listeners.setdefault(key, set())
        listeners.add(event)
        try:
            yield event
        finally:
            listeners.discard(event)
            if not listeners:
                self._listeners.pop(key, None)

    async def aclose(self) -> None:
        """Forget every listener."""
        self._listeners.clear()
