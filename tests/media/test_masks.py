import io
import json

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as coco_mask

from sam3_service.errors import InvalidInput, TooLarge
from sam3_service.media import (
    decode_rle,
    encode_rle,
    mask_area,
    mask_bbox,
    mask_to_png,
    mask_to_polygons,
)

SIZES = [(1, 1), (1, 9), (7, 1), (13, 17), (480, 641)]


def masks_of(height: int, width: int) -> list[np.ndarray]:
    rng = np.random.default_rng(height * 1000 + width)
    blob = np.zeros((height, width), bool)
    blob[height // 4 : height // 2 + 1, width // 3 : width - 1] = True
    return [
        rng.random((height, width)) > 0.5,
        blob,
        np.zeros((height, width), bool),
        np.ones((height, width), bool),
    ]


@pytest.mark.parametrize(("height", "width"), SIZES)
def test_rle_round_trips_through_pycocotools(height: int, width: int) -> None:
    for mask in masks_of(height, width):
        rle = json.loads(json.dumps(encode_rle(mask)))  # JSON-ready as returned

        assert rle["size"] == [height, width] and isinstance(rle["counts"], str)
        coco = {"size": rle["size"], "counts": rle["counts"].encode()}
        assert np.array_equal(coco_mask.decode(coco), mask)
        assert np.array_equal(decode_rle(rle), mask)
        assert np.array_equal(decode_rle(coco), mask)
        assert decode_rle(rle).dtype == bool


def test_encode_rle_accepts_non_bool_and_non_contiguous_masks() -> None:
    mask = (np.arange(60).reshape(6, 10) % 3).astype(np.uint8)[:, ::2]

    assert np.array_equal(decode_rle(encode_rle(mask)), mask != 0)


@pytest.mark.parametrize(
    "rle",
    [
        {},
        {"size": [5, 7]},
        {"size": "5x7", "counts": "PQ1"},
        {"size": [5, 7], "counts": 5},
        {"size": [5, 7], "counts": "0"},  # pycocotools alone would return garbage memory
        {"size": [5, 7], "counts": "zz"},
        {"size": [5, 7], "counts": "o"},  # ends inside a number
        {"size": [5, 7], "counts": "\u00e9"},
        {"size": [5, 7], "counts": "o" * 100_000 + "0"},  # an endless number
        {"size": [5, 8], "counts": encode_rle(np.ones((5, 7), bool))["counts"]},
    ],
)
def test_malformed_rle_is_invalid_input(rle: dict) -> None:
    with pytest.raises(InvalidInput, match="RLE"):
        decode_rle(rle)


def test_rle_of_a_huge_declared_size_is_too_large() -> None:
    with pytest.raises(TooLarge, match="100000x100000"):
        decode_rle({"size": [100_000, 100_000], "counts": "0"})


def test_area_and_bbox() -> None:
    mask = np.zeros((10, 12), bool)
    mask[2:5, 3:9] = True
    mask[7, 1] = True

    assert mask_area(mask) == 3 * 6 + 1
    assert mask_bbox(mask) == [1.0, 2.0, 9.0, 8.0]
    assert mask_bbox(np.zeros((4, 4), bool)) is None
    assert mask_area(np.zeros((4, 4), bool)) == 0


def test_png_is_white_on_black_at_the_mask_size() -> None:
    mask = np.zeros((5, 11), bool)
    mask[1:4, 2:9] = True

    image = Image.open(io.BytesIO(mask_to_png(mask)))

    assert image.format == "PNG" and image.size == (11, 5) and image.mode in ("1", "L")
    assert np.array_equal(np.asarray(image.convert("L")), mask * np.uint8(255))


def test_polygons_of_a_square_are_its_four_corner_centres() -> None:
    mask = np.zeros((20, 20), bool)
    mask[4:10, 5:11] = True

    (polygon,) = mask_to_polygons(mask)

    corners = {(polygon[i], polygon[i + 1]) for i in range(0, len(polygon), 2)}
    assert corners == {(5.5, 4.5), (10.5, 4.5), (10.5, 9.5), (5.5, 9.5)}


def test_polygons_trace_each_outer_contour_and_drop_slivers() -> None:
    mask = np.zeros((40, 40), bool)
    mask[2:12, 2:12] = True
    mask[5:8, 5:8] = False  # a hole: not traced
    mask[20:35, 20:38] = True
    mask[38, 0:5] = True  # a one-pixel line has fewer than 3 points

    polygons = mask_to_polygons(mask)

    assert len(polygons) == 2 and all(len(polygon) >= 6 for polygon in polygons)
    rles = coco_mask.frPyObjects(polygons, 40, 40)
    # Polygons through boundary pixel centres enclose (h - 1) x (w - 1); the hole is filled.
    assert coco_mask.area(rles).sum() == 9 * 9 + 14 * 17


def test_a_looser_tolerance_gives_fewer_points() -> None:
    yy, xx = np.mgrid[:200, :200]
    disc = (yy - 100) ** 2 + (xx - 100) ** 2 < 80**2

    (fine,) = mask_to_polygons(disc, tolerance=0.5)
    (coarse,) = mask_to_polygons(disc, tolerance=4.0)

    assert len(coarse) < len(fine)


def test_empty_mask_has_no_polygons() -> None:
    assert mask_to_polygons(np.zeros((8, 8), bool)) == []
