"""Job handlers for the queue tests, and a runner that runs one (for the in-process queue)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sam3_service.errors import Sam3Error

Handler = Callable[[str], Awaitable[None]]


async def ignore(task_id: str) -> None:
    """A job handler with nothing to do."""


class HandlerRunner:
    """An `EmbeddedRunner` whose jobs run `handler`; it records give-ups as (task id, error)
    and lists `unfinished` as the tasks left from before."""

    def __init__(self, handler: Handler, unfinished: list[str] | None = None) -> None:
        self.handler = handler
        self.given_up: list[tuple[str, Sam3Error]] = []
        self.left = unfinished or []

    async def run(self, task_id: str) -> None:
        """Run the handler."""
        await self.handler(task_id)

    async def give_up(self, task_id: str, error: Sam3Error) -> None:
        """Record the failure."""
        self.given_up.append((task_id, error))

    async def unfinished(self, limit: int) -> list[str]:
        """The tasks left from before, at most `limit`."""
        return self.left[:limit]
