"""The relational database that task records and API keys share: schema, engines, migrations."""

from __future__ import annotations

from .dump import dump_tables, load_tables
from .engine import engine_for, map_errors
from .migrate import upgrade_database
from .schema import (
    api_keys,
    metadata,
    model_events,
    model_routing,
    model_versions,
    shares,
    tasks,
    uploads,
)

__all__ = [
    "api_keys",
    "dump_tables",
    "engine_for",
    "load_tables",
    "map_errors",
    "metadata",
    "model_events",
    "model_routing",
    "model_versions",
    "shares",
    "tasks",
    "upgrade_database",
    "uploads",
]
