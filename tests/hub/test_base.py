"""The hub's records refuse what cannot be served: a bad name, percentage or split."""

from __future__ import annotations

import pytest

from sam3_service.errors import InvalidInput
from sam3_service.hub import EventKind, ModelEvent, ModelState, ModelVersion, RoutingTable


def test_a_full_table_names_its_versions() -> None:
    table = RoutingTable(
        stable="a",
        canary="b",
        canary_percent=10,
        split=(("a", 1.0), ("c", 2.0)),
        shadow="d",
        shadow_percent=0.5,
    )
    assert table.versions == {"a", "b", "c", "d"}
    assert RoutingTable().versions == set()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"canary": "b", "canary_percent": 10}, "needs a stable"),
        ({"stable": "a", "canary_percent": 10}, "needs a canary version"),
        ({"stable": "a", "canary": "b", "canary_percent": 101}, "within 0..100"),
        ({"stable": "a", "shadow": "b", "shadow_percent": -1}, "within 0..100"),
        ({"stable": "a", "shadow": "b", "shadow_percent": float("nan")}, "within 0..100"),
        ({"stable": "a", "canary": "a", "canary_percent": 5}, "stable version"),
        ({"stable": "a", "shadow": "a", "shadow_percent": 5}, "stable version"),
        ({"stable": "a", "split": (("a", 1.0),)}, "two or more"),
        ({"stable": "a", "split": (("a", 1.0), ("a", 2.0))}, "two or more"),
        ({"stable": "a", "split": (("a", 1.0), ("b", 0.0))}, "positive"),
        ({"stable": "a", "split": (("a", 1.0), ("b", float("inf")))}, "positive"),
        ({"stable": "has space"}, "1 to 64"),
        ({"stable": "x" * 65}, "1 to 64"),
        ({"stable": ""}, "1 to 64"),
    ],
)
def test_a_table_that_cannot_route_is_invalid_input(
    fields: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        RoutingTable(**fields)  # type: ignore[arg-type]


def test_a_hub_version_needs_its_revision() -> None:
    with pytest.raises(InvalidInput, match="revision"):
        ModelVersion("abc", "facebook/sam3", "hub", "facebook/sam3", "f" * 64, "bf16", "cuda")  # type: ignore[arg-type]


def test_plain_strings_become_the_enums() -> None:
    local = ModelVersion("abc", "m", "local", "/m", "f" * 64, "float32", "cpu", state="ready")  # type: ignore[arg-type]
    assert local.state is ModelState.READY
    assert ModelEvent("promoted").kind is EventKind.PROMOTED  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ModelEvent("exploded")  # type: ignore[arg-type]


def test_texts_longer_than_their_columns_are_refused() -> None:
    with pytest.raises(InvalidInput, match="reason is 1025 characters, the most is 1024"):
        ModelEvent(EventKind.ROUTED, reason="x" * 1025)
    with pytest.raises(InvalidInput, match="device"):
        ModelVersion("abc", "m", "local", "/m", "f" * 64, "float32", "cuda" * 5)  # type: ignore[arg-type]
