"""Dynamic batching: concurrent calls share one image-encoder run, with the answers they would
get one at a time; a lone call never waits for company."""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sam3_service.inference import Box, Point, Prompt, Segmentation, Thresholds
from sam3_service.inference.batching import Batcher
from sam3_service.runtime import model_host
from tests.helpers import make_settings

from .conftest import EngineFactory

KEEP_ALL = Thresholds(score=0.0, mask=0.5)
LONG_WINDOW_MS = 60_000.0  # far longer than any test may take: a wait for it would show
PROMPTS = [
    Prompt(text="cat"),
    Prompt(points=(Point(30, 40),)),
    Prompt(boxes=(Box(10, 10, 60, 50),)),
]


def picture(seed: int) -> tuple[Image.Image, str]:
    pixels = np.random.default_rng(seed).integers(0, 256, (80, 120, 3), dtype=np.uint8)
    image = Image.fromarray(pixels)
    return image, hashlib.sha256(image.tobytes()).hexdigest()


def run_together(
    calls: list[Callable[[], Segmentation]], lock: threading.Lock, waiting: Callable[[], int]
) -> list[Segmentation]:
    """Run `calls` on threads while `lock` is held, until all of them wait for one batch."""
    results: list[Segmentation | None] = [None] * len(calls)

    def call(n: int) -> None:
        results[n] = calls[n]()

    threads = [threading.Thread(target=call, args=(n,)) for n in range(len(calls))]
    with lock:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while waiting() < len(calls):
            assert time.monotonic() < deadline, "the calls never met in the batcher"
            time.sleep(0.01)
    for thread in threads:
        thread.join(timeout=60)
    assert all(result is not None for result in results)
    return [result for result in results if result is not None]


def assert_close(batched: Segmentation, alone: Segmentation) -> None:
    assert len(batched.detections) == len(alone.detections)
    for a, b in zip(batched.detections, alone.detections, strict=True):
        assert a.score == pytest.approx(b.score, abs=1e-4)
        np.testing.assert_allclose(a.box, b.box, atol=0.5)
        assert np.mean(a.mask != b.mask) < 0.002  # a pixel on the threshold may flip


def test_concurrent_images_share_one_encoder_run_with_the_same_answers(
    make_engine: EngineFactory,
) -> None:
    batching = make_engine(batch_window_ms=LONG_WINDOW_MS, max_batch=3)
    alone = make_engine()  # on the CPU: no batching
    assert (batching.max_batch, alone.max_batch) == (3, 1)
    pictures = [picture(seed) for seed in range(3)]
    calls = [
        (lambda p=p, prompt=prompt: batching.segment(p[0], p[1], prompt, KEEP_ALL))
        for p, prompt in zip(pictures, PROMPTS, strict=True)
    ]
    batched = run_together(calls, batching.weights.lock, lambda: batching._encoder._batcher.waiting)
    assert (batching.stats.vision_batches, batching.stats.vision_encoder_runs) == (1, 3)
    for (image, sha), prompt, result in zip(pictures, PROMPTS, batched, strict=True):
        assert not result.vision_cache_hit
        assert_close(result, alone.segment(image, sha, prompt, KEEP_ALL))
    assert alone.stats.vision_batches == 3


def test_an_image_twice_in_a_batch_is_encoded_once(make_engine: EngineFactory) -> None:
    engine = make_engine(batch_window_ms=LONG_WINDOW_MS, max_batch=4)
    image, sha = picture(5)
    calls = [
        (lambda prompt=prompt: engine.segment(image, sha, prompt, KEEP_ALL))
        for prompt in PROMPTS[:2]
    ]
    run_together(calls, engine.weights.lock, lambda: engine._encoder._batcher.waiting)
    assert (engine.stats.vision_batches, engine.stats.vision_encoder_runs) == (1, 1)


def test_a_cached_image_skips_the_batch(make_engine: EngineFactory) -> None:
    engine = make_engine(batch_window_ms=LONG_WINDOW_MS, max_batch=4)
    image, sha = picture(6)
    first = engine.segment(image, sha, PROMPTS[0], KEEP_ALL)
    again = engine.segment(image, sha, PROMPTS[0], KEEP_ALL)
    other_head = engine.segment(image, sha, PROMPTS[1], KEEP_ALL)
    assert (first.vision_cache_hit, again.vision_cache_hit, other_head.vision_cache_hit) == (
        False,
        True,
        True,
    )
    assert (engine.stats.vision_batches, engine.stats.vision_encoder_runs) == (1, 1)


def test_a_lone_call_does_not_wait_for_the_window(make_engine: EngineFactory) -> None:
    """With a one-minute window, a call with no company still answers (in far less)."""
    engine = make_engine(batch_window_ms=LONG_WINDOW_MS, max_batch=8)
    image, sha = picture(7)
    started = time.monotonic()
    engine.segment(image, sha, PROMPTS[0], KEEP_ALL)
    assert time.monotonic() - started < LONG_WINDOW_MS / 2000


def test_the_host_runs_as_many_calls_at_once_as_the_engine_batches(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    settings = make_settings(tiny_model_dir, tmp_path, batch_window_ms=5, max_batch=2)
    host = model_host(settings, str(tiny_model_dir))
    host.load_blocking()
    meet = threading.Barrier(2, timeout=30)  # broken unless both calls run at once

    async def both() -> list[int]:
        return await asyncio.gather(
            host.run(lambda _: meet.wait()), host.run(lambda _: meet.wait())
        )

    try:
        assert sorted(asyncio.run(both())) == [0, 1]
    finally:
        host.close()


class TestBatcher:
    """The batcher alone, on plain numbers."""

    def test_items_waiting_when_the_lock_frees_run_as_one_batch(self) -> None:
        runs: list[list[int]] = []
        lock = threading.Lock()
        batcher: Batcher[int, int] = Batcher(
            lambda items: runs.append(items) or [2 * i for i in items],
            lock=lock,
            window_s=0,
            max_batch=3,
        )
        outputs: dict[int, int] = {}

        def call(n: int) -> None:
            with batcher.arrival() as arrival:
                outputs[n] = arrival.submit(n)

        threads = [threading.Thread(target=call, args=(n,)) for n in range(4)]
        with lock:
            for thread in threads:
                thread.start()
            while batcher.waiting < 4:
                time.sleep(0.005)
        for thread in threads:
            thread.join(timeout=10)
        assert outputs == {n: 2 * n for n in range(4)}
        assert sorted(len(run) for run in runs) == [1, 3]  # max_batch, then the rest

    def test_the_leader_waits_for_a_caller_on_its_way(self) -> None:
        runs: list[list[int]] = []
        batcher: Batcher[int, int] = Batcher(
            lambda items: runs.append(items) or items,
            lock=threading.Lock(),
            window_s=30,
            max_batch=2,
        )
        entered = threading.Event()
        release = threading.Event()

        def late() -> None:
            with batcher.arrival() as arrival:
                entered.set()
                release.wait(10)
                arrival.submit(2)

        thread = threading.Thread(target=late)
        thread.start()
        entered.wait(10)
        threading.Timer(0.2, release.set).start()
        with batcher.arrival() as arrival:
            assert arrival.submit(1) == 1
        thread.join(timeout=10)
        assert runs == [[1, 2]]

    def test_a_caller_that_leaves_without_submitting_stops_the_wait(self) -> None:
        batcher: Batcher[int, int] = Batcher(
            lambda items: items, lock=threading.Lock(), window_s=60, max_batch=2
        )
        entered = threading.Event()
        leave = threading.Event()

        def leaves() -> None:
            with batcher.arrival():
                entered.set()
                leave.wait(10)

        thread = threading.Thread(target=leaves)
        thread.start()
        entered.wait(10)
        threading.Timer(0.2, leave.set).start()
        started = time.monotonic()
        with batcher.arrival() as arrival:
            assert arrival.submit(1) == 1
        assert time.monotonic() - started < 30
        thread.join(timeout=10)

    def test_an_error_reaches_every_caller_of_the_batch(self) -> None:
        def fail(items: list[int]) -> list[int]:
            raise RuntimeError("boom")

        batcher: Batcher[int, int] = Batcher(fail, lock=threading.Lock())
        with batcher.arrival() as arrival, pytest.raises(RuntimeError, match="boom"):
            arrival.submit(1)
        with batcher.arrival() as arrival, pytest.raises(RuntimeError, match="boom"):
            arrival.submit(2)  # the batcher still works after a failed batch
