"""The `sam3-service` command: serve the API, segment files, build the development model.

Each module adds the commands of one job to `app` and only parses and calls.
"""

from __future__ import annotations

from . import backup, keys, model, models, segment, serve, worker  # noqa: F401  (each adds commands)
from .base import app

__all__ = ["app"]
