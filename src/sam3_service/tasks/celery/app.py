"""The Celery app that both sides of the queue use, with its reliability settings.

Messages are persistent and carry only the task id (also used as the Celery task id). A
publish returns once the broker confirmed the message, so an accepted id survives a broker
restart. A worker process takes one message at a time (prefetch 1) and acknowledges it after
the job ran (acks_late): a worker that dies mid-job leaves its message to be delivered again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from celery import Celery
from kombu import Queue

from .topology import CONNECT_TIMEOUT_S, work_queue

__all__ = ["DEFAULT_QUEUE", "TASK_NAME", "celery_app"]

DEFAULT_QUEUE = "sam3.tasks"
TASK_NAME = "sam3.run_job"
# Publishing rides out a broker that blinks (about 2 s), then answers BackendUnavailable.
_PUBLISH_RETRY = {"max_retries": 3, "interval_start": 0.2, "interval_step": 0.4, "interval_max": 1}


def celery_app(
    url: str, queue: str = DEFAULT_QUEUE, routed: Sequence[Queue] = (), **conf: Any
) -> Celery:
    """A Celery app for `queue` (and the `routed` queues, which a worker consumes too) on the
    broker at `url`, with the reliability settings above."""
    app = Celery("sam3_service", broker=url, set_as_current=False)
    app.conf.update(
        task_queues=[work_queue(queue), *routed],
        task_default_queue=queue,
        task_default_exchange=queue,
        task_default_routing_key=queue,
        task_create_missing_queues=False,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,  # the task store holds outcomes
        task_default_delivery_mode="persistent",
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_retry_on_worker_lost=True,
        task_acks_on_failure_or_timeout=False,  # a failed delivery is rejected, not dropped
        task_publish_retry_policy=_PUBLISH_RETRY,
        broker_transport_options={"confirm_publish": True},
        broker_connection_timeout=CONNECT_TIMEOUT_S,
        broker_connection_retry_on_startup=True,
        worker_prefetch_multiplier=1,
        worker_enable_remote_control=False,
        worker_send_task_events=False,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        **conf,
    )
    return app
