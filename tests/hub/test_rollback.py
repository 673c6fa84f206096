"""The rollback judge on synthetic outcomes: it waits, then rolls back errors and slowness."""

from __future__ import annotations

import pytest

from sam3_service.hub.rollback import Action, RollbackJudge, RollbackRules, WindowFigures

RULES = RollbackRules(min_requests=50, max_error_rate_increase=0.05, max_p95_ratio=1.5, window=200)


def feed(judge: RollbackJudge, version: str, n: int, *, errors: int = 0, ms: float = 100) -> None:
    """`n` outcomes of `version`, the first `errors` of them failures, each taking `ms`."""
    for index in range(n):
        judge.record(version, ok=index >= errors, latency_ms=ms + index % 10)


def test_too_few_requests_keep_the_trial_whatever_they_say() -> None:
    judge = RollbackJudge(RULES)
    feed(judge, "stable", 100)
    feed(judge, "canary", 49, errors=49)
    verdict = judge.verdict("canary", "stable")
    assert verdict.action is Action.KEEP
    assert verdict.reason == "canary has 49 of the 50 requests needed"


def test_a_trial_as_good_as_the_stable_is_kept() -> None:
    judge = RollbackJudge(RULES)
    feed(judge, "stable", 100, errors=2)
    feed(judge, "canary", 100, errors=5, ms=130)
    verdict = judge.verdict("canary", "stable")
    assert verdict.action is Action.KEEP, verdict.reason
    assert "within the limits over 100 requests" in verdict.reason


def test_more_errors_than_the_stable_roll_back() -> None:
    judge = RollbackJudge(RULES)
    feed(judge, "stable", 100, errors=1)
    feed(judge, "canary", 100, errors=10)
    verdict = judge.verdict("canary", "stable")
    assert verdict.action is Action.ROLL_BACK
    assert verdict.reason == ("canary failed 10.0% of its last 100 requests, against stable's 1.0%")
    assert verdict.trial == WindowFigures(100, 0.1, 109)


def test_a_slow_trial_rolls_back() -> None:
    judge = RollbackJudge(RULES)
    feed(judge, "stable", 100, ms=100)
    feed(judge, "canary", 100, ms=200)
    verdict = judge.verdict("canary", "stable")
    assert verdict.action is Action.ROLL_BACK
    assert verdict.reason == "canary's p95 latency is 209 ms, over 1.5 times stable's 109 ms"


def test_without_stable_figures_errors_are_judged_against_none() -> None:
    judge = RollbackJudge(RULES)
    feed(judge, "slow", 60, ms=10_000)
    assert judge.verdict("slow", "stable").action is Action.KEEP  # latency needs a baseline
    feed(judge, "failing", 60, errors=6)
    verdict = judge.verdict("failing", "stable")
    assert verdict.action is Action.ROLL_BACK
    assert verdict.reason.endswith("against none counted for the stable")


def test_the_window_slides_past_old_failures() -> None:
    judge = RollbackJudge(RULES)
    feed(judge, "stable", 200)
    feed(judge, "canary", 200, errors=100)
    assert judge.verdict("canary", "stable").action is Action.ROLL_BACK
    feed(judge, "canary", 200)  # the window keeps the last 200: all successes
    assert judge.verdict("canary", "stable").action is Action.KEEP
    assert judge.figures("canary").error_rate == 0.0


def test_a_forgotten_version_starts_over() -> None:
    judge = RollbackJudge(RULES)
    feed(judge, "canary", 60, errors=60)
    judge.forget("canary")
    assert judge.figures("canary") == WindowFigures(0, 0.0, None)
    assert judge.verdict("canary", "stable").action is Action.KEEP


@pytest.mark.parametrize(
    "fields",
    [
        {"min_requests": 0},
        {"min_requests": 10, "window": 5},
        {"max_error_rate_increase": 1.5},
        {"max_p95_ratio": 0.5},
    ],
)
def test_rules_that_cannot_judge_are_refused(fields: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RollbackRules(**fields)  # type: ignore[arg-type]
