"""A load beyond the memory budget is refused with a Conflict that says what to do."""

from __future__ import annotations

import pytest

from sam3_service.errors import Conflict
from sam3_service.hub.budget import check_fits

GIB = 1 << 30


def test_a_version_within_the_budget_fits() -> None:
    check_fits("b", 2 * GIB, loaded={"a": 2 * GIB}, budget=4 * GIB, free=0)


def test_a_version_beyond_the_budget_is_refused_naming_what_is_loaded() -> None:
    with pytest.raises(Conflict) as refused:
        check_fits("c", 3 * GIB, loaded={"a": 2 * GIB, "b": GIB}, budget=4 * GIB, free=100 * GIB)
    assert str(refused.value) == (
        "model version c needs 3.00 GiB and the budget of 4.00 GiB has 1.00 GiB left "
        "(a 2.00 GiB, b 1.00 GiB loaded): unload a version or raise SAM3_MODEL_MEMORY_BUDGET"
    )
    assert refused.value.details == {"version": "c", "need_bytes": 3 * GIB}


def test_auto_compares_with_the_free_memory() -> None:
    check_fits("a", GIB, loaded={"x": 50 * GIB}, budget=None, free=GIB)
    with pytest.raises(Conflict, match="the device has 0.50 GiB free"):
        check_fits("a", GIB, loaded={}, budget=None, free=GIB // 2)
