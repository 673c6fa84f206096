"""The model hub: versions of the model and their registry, routing, rollback and agreement.

Importing it loads neither torch nor a database driver: the registry's SQL code loads in
`open_model_registry`.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from ..errors import ConfigError
from .agreement import Agreement, ScoredMask, compare_objects, result_objects
from .base import (
    EVENT_OF_STATE,
    EventKind,
    ModelEvent,
    ModelRegistry,
    ModelState,
    ModelVersion,
    RoutingTable,
    SourceKind,
)
from .budget import check_fits
from .rollback import Action, RollbackJudge, RollbackRules, Verdict, WindowFigures
from .routing import Route, RouteReason, bucket, choose_shadow, choose_version, promote, withdraw

__all__ = [
    "EVENT_OF_STATE",
    "Action",
    "Agreement",
    "EventKind",
    "ModelEvent",
    "ModelRegistry",
    "ModelState",
    "ModelVersion",
    "RollbackJudge",
    "RollbackRules",
    "Route",
    "RouteReason",
    "RoutingTable",
    "ScoredMask",
    "SourceKind",
    "Verdict",
    "WindowFigures",
    "bucket",
    "check_fits",
    "choose_shadow",
    "choose_version",
    "compare_objects",
    "open_model_registry",
    "promote",
    "result_objects",
    "withdraw",
]

_SQL_SCHEMES = ("sqlite", "postgresql", "postgres")


async def open_model_registry(url: str) -> ModelRegistry:
    """The registry in the task database at `url` (`sqlite:///path` or `postgresql://...`),
    its schema brought up to date.

    Raises ConfigError for any other URL, BackendUnavailable if the database cannot be reached.
    """
    if urlsplit(url).scheme.partition("+")[0] not in _SQL_SCHEMES:
        raise ConfigError(f"the model registry must be sqlite:// or postgresql://, got {url!r}")
    from ..database import upgrade_database
    from .sql_registry import SqlModelRegistry

    await asyncio.to_thread(upgrade_database, url)
    return SqlModelRegistry(url)
