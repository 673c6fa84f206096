"""The relational database that task records and API keys share: schema, engines, migrations."""

from __future__ import annotations

from .engine import engine_for, map_errors
from .migrate import upgrade_database
from .schema import api_keys, metadata, shares, tasks, uploads

__all__ = [
    "api_keys",
    "engine_for",
    "map_errors",
    "metadata",
    "shares",
    "tasks",
    "upgrade_database",
    "uploads",
]
