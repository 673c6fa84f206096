import io

import numpy as np
import pytest
from PIL import Image

from sam3_service.errors import InvalidInput
from sam3_service.media import label_png, overlay_frame, overlay_png, palette

GREY = 100


def square(height: int, width: int, y0: int, x0: int, side: int) -> np.ndarray:
    mask = np.zeros((height, width), bool)
    mask[y0 : y0 + side, x0 : x0 + side] = True
    return mask


def decode_png(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    return image


def test_palette_is_deterministic_distinct_and_bright() -> None:
    colours = palette(256)

    assert colours.shape == (256, 3) and colours.dtype == np.uint8
    assert len(np.unique(colours, axis=0)) == 256
    assert np.array_equal(palette(5), colours[:5])
    assert colours.max(axis=1).min() >= 200  # every colour has a bright channel
    assert palette(0).shape == (0, 3)


def test_label_png_is_transparent_with_later_objects_on_top() -> None:
    masks = [square(30, 40, 0, 0, 20), square(30, 40, 10, 10, 20)]

    image = decode_png(label_png(masks, 40, 30))

    assert image.mode == "RGBA" and image.size == (40, 30)
    pixels = np.asarray(image)
    colours = palette(2)
    assert np.array_equal(pixels[25, 5], [0, 0, 0, 0])
    assert np.array_equal(pixels[5, 5], [*colours[0], 255])
    assert np.array_equal(pixels[15, 15], [*colours[1], 255])  # overlap: the later object


def test_label_png_rejects_a_mask_of_another_size() -> None:
    with pytest.raises(InvalidInput, match="same size"):
        label_png([np.zeros((30, 41), bool)], 40, 30)


def test_overlay_frame_tints_outlines_and_keeps_the_background() -> None:
    frame = np.full((60, 80, 3), GREY, np.uint8)
    colour = palette(1)[0].astype(int)

    out = overlay_frame(frame, [square(60, 80, 20, 30, 20)], alpha=0.5)

    assert out.shape == frame.shape and out.dtype == np.uint8
    assert np.array_equal(out[5, 5], frame[5, 5])
    assert np.abs(out[30, 40].astype(int) - (GREY + colour) / 2).max() <= 1  # tinted
    assert np.array_equal(out[20, 40], colour) and np.array_equal(out[21, 40], colour)
    assert not np.array_equal(out[22, 40], colour)  # the outline is 2 px wide
    assert np.array_equal(frame, np.full((60, 80, 3), GREY, np.uint8))  # input untouched


def test_overlay_frame_draws_labels_near_the_top_left() -> None:
    frame = np.full((200, 200, 3), GREY, np.uint8)
    masks = [square(200, 200, 100, 50, 40)]

    plain = overlay_frame(frame, masks)
    labelled = overlay_frame(frame, masks, labels=["0 0.93"])

    changed_rows, changed_columns = np.nonzero((plain != labelled).any(axis=2))
    assert changed_rows.max() < 100 and changed_columns.min() >= 50  # just above the box


def test_labels_fit_inside_the_frame_at_its_edges() -> None:
    frame = np.full((40, 40, 3), GREY, np.uint8)

    out = overlay_frame(frame, [square(40, 40, 0, 35, 5)], labels=["a long label here"])

    assert out.shape == frame.shape


def test_empty_masks_and_no_masks_leave_the_frame_as_it_was() -> None:
    frame = np.random.default_rng(0).integers(0, 256, (16, 24, 3), np.uint8)

    assert np.array_equal(overlay_frame(frame, []), frame)
    assert np.array_equal(overlay_frame(frame, [np.zeros((16, 24), bool)], labels=["x"]), frame)


@pytest.mark.parametrize(
    ("frame", "masks", "labels"),
    [
        (np.zeros((10, 10), np.uint8), [], None),
        (np.zeros((10, 10, 3), np.float32), [], None),
        (np.zeros((10, 10, 3), np.uint8), [np.zeros((10, 11), bool)], None),
        (np.zeros((10, 10, 3), np.uint8), [np.zeros((10, 10), bool)], ["a", "b"]),
    ],
)
def test_overlay_frame_rejects_mismatched_input(
    frame: np.ndarray, masks: list[np.ndarray], labels: list[str] | None
) -> None:
    with pytest.raises(InvalidInput):
        overlay_frame(frame, masks, labels=labels)


def test_overlay_png_is_an_rgb_png_with_masked_pixels_recoloured() -> None:
    image = Image.new("RGBA", (50, 30), (GREY, GREY, GREY, 255))
    mask = square(30, 50, 10, 10, 15)

    result = decode_png(overlay_png(image, [mask], alpha=0.6, labels=["0 0.93"]))

    assert result.mode == "RGB" and result.size == (50, 30)
    pixels = np.asarray(result)
    assert not np.array_equal(pixels[17, 17], [GREY] * 3)
    assert np.array_equal(pixels[28, 48], [GREY] * 3)
