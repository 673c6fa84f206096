"""Log lines: JSON (one object per line) for machines, or readable text for a person.

`configure`, the one place where a process sets up logging, picks the format: `json` or `text`,
or `auto`: text when stderr is a terminal, JSON otherwise (a container, a file, a pipe). `bind`
adds fields to the lines logged inside its block (a request's id; a job's task id, owner and
model version).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal

LogFormat = Literal["auto", "json", "text"]
FIELDS = ("request_id", "task_id", "owner", "model_version")
API_TEXT = "%(levelname)s %(name)s [%(request_id)s]: %(message)s"
WORKER_TEXT = "%(levelname)s %(processName)s %(name)s: %(message)s"
_bound: ContextVar[dict[str, str]] = ContextVar("sam3_log_fields", default={})  # noqa: B039


@contextmanager
def bind(**fields: str | None) -> Iterator[None]:
    """Add `fields` (of FIELDS) to every line logged in this block, in this context."""
    token = _bound.set({**_bound.get(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _bound.reset(token)


def bound(name: str) -> str | None:
    """The value of the field `name` bound here, if any."""
    return _bound.get().get(name)


class ContextFilter(logging.Filter):
    """Copies the bound fields onto each record, as attributes; `request_id` is `-` outside
    a request (text lines show it, JSON lines leave it out)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = "-"
        for name, value in _bound.get().items():
            setattr(record, name, value)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: timestamp (UTC, ISO 8601), level, logger, message, the context
    fields that are known, and the exception, if any."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value not in (None, "-"):
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def wants_json(log_format: LogFormat) -> bool:
    """Whether `log_format` means JSON here: `auto` does unless stderr is a terminal."""
    return log_format == "json" or (log_format == "auto" and not sys.stderr.isatty())


def configure(level: str, log_format: LogFormat, *, text_format: str = API_TEXT) -> None:
    """Log to stderr at `level`, as JSON or as `text_format`, unless logging is set up already
    (then only add the context fields to the handlers there)."""
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # a line per plugin
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        json_lines = wants_json(log_format)
        if json_lines:  # no progress bars between the lines (read when transformers loads)
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(text_format))
        root.addHandler(handler)
        root.setLevel(level.upper())
        logging.captureWarnings(True)  # warnings become log lines too, JSON when those are
    for existing in root.handlers:
        if not any(isinstance(f, ContextFilter) for f in existing.filters):
            existing.addFilter(ContextFilter())
