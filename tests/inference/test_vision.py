"""The shared image encoder: one encoding per image serves every prompt and head."""

from __future__ import annotations

from PIL import Image

from .conftest import (
    BOX,
    CLICK,
    EXEMPLARS,
    KEEP_ALL,
    TEXT,
    EngineFactory,
    assert_same_segmentation,
)


def test_one_image_encoding_serves_every_prompt_and_head(
    make_engine: EngineFactory, image: Image.Image, image_sha: str
) -> None:
    engine = make_engine()
    first = engine.segment(image, image_sha, TEXT, KEEP_ALL)
    second = engine.segment(image, image_sha, EXEMPLARS, KEEP_ALL)
    third = engine.segment(image, image_sha, CLICK, KEEP_ALL)
    assert (first.vision_cache_hit, second.vision_cache_hit, third.vision_cache_hit) == (
        False,
        True,
        True,
    )
    assert engine.stats.vision_encoder_runs == 1
    assert engine.stats.vision_cache_hits == 2
    # The head's neck is cached too: a second concept prompt runs no image encoding at all.
    assert second.timings_ms.get("encode_image", 0.0) < first.timings_ms["encode_image"] / 10


def test_cached_and_uncached_results_are_identical(
    make_engine: EngineFactory, image: Image.Image, image_sha: str
) -> None:
    cached = make_engine()
    uncached = make_engine(vision_cache_bytes=0, text_cache_entries=0)
    for prompt in (TEXT, EXEMPLARS, CLICK, BOX):
        cached.segment(image, image_sha, prompt, KEEP_ALL)
        warm = cached.segment(image, image_sha, prompt, KEEP_ALL)
        cold = uncached.segment(image, image_sha, prompt, KEEP_ALL)
        assert warm.vision_cache_hit and not cold.vision_cache_hit
        assert_same_segmentation(warm, cold)
    assert cached.stats.vision_encoder_runs == 1
    assert uncached.stats.vision_encoder_runs == 4
    assert uncached.stats.vision_cache_hits == uncached.stats.text_cache_hits == 0
