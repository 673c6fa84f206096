"""Log lines: JSON objects with the context of the request or job, or text for a person."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest

from sam3_service.logs import ContextFilter, JsonFormatter, bind, configure, wants_json

CONFIGURE = (
    "import logging; from sam3_service.logs import configure, bind; "
    "configure('INFO', '{fmt}', text_format='%(levelname)s %(name)s [%(request_id)s]: "
    "%(message)s'); "
    "log = logging.getLogger('probe'); "
    'exec(\'with bind(task_id="t1", owner="alice"):\\n    log.warning("in a job")\')'
)


def record(message: str = "hello %s", args: tuple[object, ...] = ("world",)) -> logging.LogRecord:
    return logging.LogRecord("sam3.test", logging.WARNING, __file__, 1, message, args, None)


def test_a_json_line_has_the_standard_fields_and_the_bound_ones() -> None:
    line = record()
    with bind(task_id="t1", owner="alice", model_version="abc"), bind(owner="bob"):
        ContextFilter().filter(line)  # outside a request: request_id "-", left out
    parsed = json.loads(JsonFormatter().format(line))
    assert parsed.pop("timestamp").endswith("+00:00")
    assert parsed == {
        "level": "WARNING",
        "logger": "sam3.test",
        "message": "hello world",
        "task_id": "t1",
        "owner": "bob",
        "model_version": "abc",
    }


def test_an_exception_is_kept_in_its_line() -> None:
    try:
        raise ValueError("broken")
    except ValueError:
        line = record("failed", ())
        line.exc_info = sys.exc_info()
    parsed = json.loads(JsonFormatter().format(line))
    assert "ValueError: broken" in parsed["exception"] and "\n" not in json.dumps(parsed)[:-1]


def test_auto_means_json_unless_a_person_watches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    assert wants_json("auto") and wants_json("json") and not wants_json("text")
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert not wants_json("auto") and wants_json("json")


@pytest.mark.parametrize("fmt", ["auto", "json", "text"])
def test_a_process_logs_in_the_format_asked(fmt: str) -> None:
    ran = subprocess.run(
        [sys.executable, "-c", CONFIGURE.format(fmt=fmt)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    (line,) = ran.stderr.splitlines()  # stderr is a pipe here: auto means JSON
    if fmt == "text":
        assert line == "WARNING probe [-]: in a job"
    else:
        parsed = json.loads(line)
        assert (parsed["message"], parsed["task_id"], parsed["owner"]) == (
            "in a job",
            "t1",
            "alice",
        )


def test_configuring_twice_adds_one_filter_per_handler() -> None:
    configure("INFO", "text")
    configure("INFO", "text")
    for handler in logging.getLogger().handlers:
        assert sum(isinstance(f, ContextFilter) for f in handler.filters) == 1
