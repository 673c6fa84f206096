"""Which worker should run a task: one that holds its model version and, for an image, the one
whose feature cache is warm for it (it encoded the image before).

An image goes to the same worker each time by rendezvous hashing (highest random weight) of its
content key over the ready workers of the task's version: each worker weighs each key by
sha256, the heaviest wins. Adding or losing a worker moves only the keys it wins or won.
The route is a hint (`QueueRoute`): a worker that is busy or gone passes the task on to the
others of its version within seconds, so a stale view of the fleet costs a cold cache, never
a stranded task. An unreadable fleet gives no worker, never a failed submission.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable

from ..tasks.base import QueueRoute, TaskKind, TaskRecord
from . import fleet
from .services import Services

__all__ = ["choose", "route"]

log = logging.getLogger(__name__)


def choose(key: str, workers: Iterable[str]) -> str | None:
    """The worker that `key` goes to among `workers` (None if there is none)."""
    return max(workers, key=lambda worker: (_weight(worker, key), worker), default=None)


async def route(services: Services, record: TaskRecord) -> QueueRoute | None:
    """Where to queue `record`: its version's workers (`record.model_version`; None: any), and
    for an image, the one `choose` picks. None where this process runs tasks itself, or for
    a task of no version while workers hold several (any worker may take it)."""
    if services.models is not None:
        return None
    version = record.model_version
    try:
        workers = await fleet.ready_workers(services.cache, version)
    except Exception:  # a report that does not parse: route by version only
        log.exception("cannot read the workers' reports to route task %s", record.id)
        workers = []
    versions = {report.route: report.version for report in workers if report.route}
    worker = choose(record.input_key, versions)
    if record.kind is TaskKind.IMAGE and worker is not None and len(set(versions.values())) == 1:
        return QueueRoute(version=versions[worker], worker=worker)
    return QueueRoute(version=version) if version else None


def _weight(worker: str, key: str) -> int:
    digest = hashlib.sha256(f"{worker}\0{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big")
