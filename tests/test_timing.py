"""StageTimer: time per stage adds up, the sync hook runs at each stage's end."""

from __future__ import annotations

import time

import pytest

from sam3_service.timing import StageTimer


def test_stages_start_at_zero_and_add_up() -> None:
    timer = StageTimer(("a", "b"))
    assert timer.ms == {"a": 0.0, "b": 0.0}
    for _ in range(2):
        with timer("a"):
            time.sleep(0.01)
    assert timer.ms["a"] >= 20 and timer.ms["b"] == 0.0


def test_a_stage_that_raises_is_still_counted_and_synced() -> None:
    synced: list[int] = []
    timer = StageTimer(("a",), sync=lambda: synced.append(1))
    with pytest.raises(ValueError), timer("a"):
        raise ValueError
    assert synced == [1] and timer.ms["a"] > 0
