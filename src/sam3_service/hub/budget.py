"""Whether one more model version fits in memory beside those already loaded."""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import Conflict

__all__ = ["check_fits"]

_GIB = 1 << 30


def check_fits(
    version: str, need: int, *, loaded: Mapping[str, int], budget: int | None, free: int
) -> None:
    """Raise Conflict, saying what to do, unless `version` (taking `need` bytes) fits: within
    `budget` bytes together with the `loaded` versions' bytes, or, for budget None ("auto"),
    within the `free` bytes the device reports now."""
    if budget is None:
        if need <= free:
            return
        room = f"the device has {_gib(free)} free"
    else:
        used = sum(loaded.values())
        if used + need <= budget:
            return
        held = ", ".join(f"{name} {_gib(size)}" for name, size in sorted(loaded.items()))
        room = f"the budget of {_gib(budget)} has {_gib(max(budget - used, 0))} left"
        room += f" ({held} loaded)" if held else ""
    raise Conflict(
        f"model version {version} needs {_gib(need)} and {room}: unload a version "
        "or raise SAM3_MODEL_MEMORY_BUDGET",
        version=version,
        need_bytes=need,
    )


def _gib(size: int) -> str:
    return f"{size / _GIB:.2f} GiB"
