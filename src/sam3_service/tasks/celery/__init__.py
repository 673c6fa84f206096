"""Celery on RabbitMQ: a durable queue of task ids, its dead-letter queue, and the worker side."""

from .app import DEFAULT_QUEUE, celery_app
from .queue import CeleryQueue
from .worker import CeleryWorker

__all__ = ["DEFAULT_QUEUE", "CeleryQueue", "CeleryWorker", "celery_app"]
