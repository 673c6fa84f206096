"""The embedded queue's runner: this process's model runs the tasks that its queue delivers."""

from __future__ import annotations

from ..errors import Sam3Error
from ..logs import bind
from . import jobs
from .services import Services


class JobRunner:
    """Runs, gives up and lists tasks with `services` (an `EmbeddedRunner`).

    Like a Celery worker, which takes tasks only once its model is loaded, a job waits (at most
    `model_wait_s`, the task's time limit) for a model still loading.
    """

    def __init__(self, services: Services, *, model_wait_s: float) -> None:
        self.services = services
        self.model_wait_s = model_wait_s

    async def run(self, task_id: str) -> None:
        """Run one task; a transient fault is raised (see `jobs.run`)."""
        if self.services.models is not None:
            await self.services.models.until_loaded(self.model_wait_s)
        with bind(task_id=task_id):
            await jobs.run(self.services, task_id)

    async def give_up(self, task_id: str, error: Sam3Error) -> None:
        """Fail the task for good with `error`."""
        with bind(task_id=task_id):
            await jobs.give_up(self.services, task_id, error)

    async def unfinished(self, limit: int) -> list[str]:
        """The tasks a stopped process left unfinished, oldest first, back in `queued`."""
        return await jobs.requeue_unfinished(self.services, limit=limit)
