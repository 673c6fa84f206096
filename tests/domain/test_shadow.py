"""ShadowRunner: shadow runs in the background compared with the served result (the tiny
random SAM 3 against itself and against another seed), dropped when busy, failures counted."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from sam3_service.domain.models import ModelHost
from sam3_service.domain.shadow import ShadowRunner
from sam3_service.inference import build_tiny_model
from sam3_service.inference.checksum import model_version
from sam3_service.runtime import model_host
from tests.helpers import make_settings
from tests.hub_traffic import random_png, segment

IMAGE = random_png(0)


@pytest.fixture(scope="module")
def other_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelHost]:
    """The tiny random SAM 3 of another seed, loaded."""
    folder = build_tiny_model(tmp_path_factory.mktemp("seed") / "tiny-seed-1", seed=1)
    host = model_host(make_settings(folder, tmp_path_factory.mktemp("other")), str(folder))
    host.load_blocking()
    yield host
    host.close()


@pytest.fixture
async def runner() -> AsyncIterator[ShadowRunner]:
    shadows = ShadowRunner(max_in_flight=2)
    yield shadows
    await shadows.aclose()


async def test_equal_weights_agree_and_another_seed_does_not(
    runner: ShadowRunner, shared_host: ModelHost, other_host: ModelHost, tiny_model_dir: Path
) -> None:
    served = await segment(shared_host, IMAGE)
    stable = served["model"]["version"]
    other = other_host.info.version if other_host.info else ""
    assert stable == model_version(tiny_model_dir) and other not in ("", stable)
    assert runner.offer(stable, "copy", served, lambda: segment(shared_host, IMAGE))
    assert runner.offer(stable, other, served, lambda: segment(other_host, IMAGE))
    await runner.wait_idle()
    figures = runner.agreement()
    objects = len(served["objects"])
    assert objects > 0
    assert figures["copy"] == {
        "served": stable,
        "runs": 1,
        "dropped": 0,
        "failed": 0,
        "matched": objects,
        "only_served": 0,
        "only_shadow": 0,
        "mean_iou": 1.0,
        "agreement": 1.0,
        "agreement_sum": 1.0,
        "score_shift": 0.0,
    }
    assert figures[other]["runs"] == 1 and figures[other]["agreement"] < 0.9, figures[other]
    assert figures[other]["only_served"] + figures[other]["only_shadow"] > 0


async def test_shadow_work_is_dropped_when_busy(shared_host: ModelHost) -> None:
    """With one shadow run under way (held back), the next offer is dropped and counted; the
    offers return at once, before the shadow has run."""
    runner = ShadowRunner(max_in_flight=1)
    served = await segment(shared_host, IMAGE)
    release = asyncio.Event()

    async def held_back() -> dict[str, Any]:
        await release.wait()
        return await segment(shared_host, IMAGE)

    assert runner.offer("v1", "v2", served, held_back)
    assert not runner.offer("v1", "v2", served, held_back)
    assert runner.in_flight == 1 and runner.agreement()["v2"]["runs"] == 0
    release.set()
    await runner.wait_idle()
    figures = runner.agreement()["v2"]
    assert (figures["runs"], figures["dropped"], figures["failed"]) == (1, 1, 0)
    assert runner.offer("v1", "v2", served, held_back)  # room again
    await runner.aclose()
    assert runner.in_flight == 0 and runner.agreement()["v2"]["runs"] == 1


async def test_a_failing_shadow_is_counted_and_does_not_raise(
    runner: ShadowRunner, shared_host: ModelHost, caplog: pytest.LogCaptureFixture
) -> None:
    served = await segment(shared_host, IMAGE)

    async def fails() -> dict[str, Any]:
        raise RuntimeError("the shadow version crashed")

    async def other_size() -> dict[str, Any]:
        return await segment(shared_host, random_png(1, width=64, height=64))

    assert runner.offer("v1", "v2", served, fails)
    assert runner.offer("v1", "v2", served, other_size)  # masks that cannot be compared
    await runner.wait_idle()
    figures = runner.agreement()["v2"]
    assert (figures["runs"], figures["failed"], figures["agreement"]) == (0, 2, None)
    assert "A shadow run against v1 failed" in caplog.text


async def test_no_shadow_runs_with_no_room() -> None:
    runner = ShadowRunner(max_in_flight=0)
    assert not runner.offer("v1", "v2", {"objects": []}, _never_called)
    assert runner.agreement()["v2"]["dropped"] == 1
    with pytest.raises(ValueError, match="max_in_flight"):
        ShadowRunner(max_in_flight=-1)


async def _never_called() -> dict[str, Any]:
    raise AssertionError("a dropped shadow must not run")
