"""The model hub's settings: rollback rules and the memory budget, read from SAM3_* variables."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from sam3_service.settings import Settings


def settings(**variables: str) -> Settings:
    return Settings(_env_file=None, **variables)  # type: ignore[call-arg]


def test_the_defaults_judge_a_canary_after_50_requests() -> None:
    made = settings()
    assert (made.rollback_min_requests, made.rollback_window_requests) == (50, 500)
    assert (made.rollback_max_error_rate_increase, made.rollback_max_p95_ratio) == (0.05, 1.5)
    assert made.model_memory_budget == "auto"


def test_the_memory_budget_is_auto_or_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAM3_MODEL_MEMORY_BUDGET", "8589934592")
    assert Settings(_env_file=None).model_memory_budget == 8 << 30  # type: ignore[call-arg]
    for wrong in ("0", "-1", "8GiB"):
        monkeypatch.setenv("SAM3_MODEL_MEMORY_BUDGET", wrong)
        with pytest.raises(ValidationError, match="model_memory_budget"):
            Settings(_env_file=None)  # type: ignore[call-arg]


def test_the_window_must_hold_the_minimum() -> None:
    with pytest.raises(ValidationError, match="at least SAM3_ROLLBACK_MIN_REQUESTS"):
        settings(rollback_min_requests="600")
    assert settings(rollback_min_requests="600", rollback_window_requests="600")


@pytest.mark.parametrize(
    "variables",
    [
        {"rollback_max_error_rate_increase": "1.5"},
        {"rollback_max_p95_ratio": "0.9"},
        {"rollback_min_requests": "0"},
    ],
)
def test_rules_that_cannot_judge_are_refused(variables: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        settings(**variables)


def test_shadow_traffic_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    made = settings()
    assert (made.shadow_max_in_flight, made.shadow_min_iou) == (2, 0.5)
    monkeypatch.setenv("SAM3_SHADOW_MAX_IN_FLIGHT", "0")
    assert Settings(_env_file=None).shadow_max_in_flight == 0  # type: ignore[call-arg]
    for wrong in ({"shadow_max_in_flight": "-1"}, {"shadow_min_iou": "0"}):
        with pytest.raises(ValidationError):
            settings(**wrong)
