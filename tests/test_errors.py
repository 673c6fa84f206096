"""The error tree: a task's error is kept as JSON and raised again as the same kind."""

from __future__ import annotations

import pytest

from sam3_service.errors import (
    Busy,
    Conflict,
    InvalidInput,
    NotFound,
    Sam3Error,
    TooLarge,
    error_from_json,
)


@pytest.mark.parametrize(
    "error", [InvalidInput("bad"), TooLarge("big"), NotFound("gone"), Busy("b")]
)
def test_a_task_error_reads_back_as_its_kind(error: Sam3Error) -> None:
    again = error_from_json(error.to_json())
    assert type(again) is type(error) and again.message == error.message


def test_other_codes_read_back_as_the_base_error() -> None:
    assert type(error_from_json(Conflict("done").to_json())) is Sam3Error
    assert error_from_json({}).message == "the task failed"
