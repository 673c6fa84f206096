import hashlib
import io
import struct
import time
import zlib

import av
import numpy as np
import pytest
from PIL import Image, ImageOps

from sam3_service.errors import InvalidInput, TooLarge, UnsupportedMedia
from sam3_service.media import decode_image, decode_mask, sniff_media_type

RED, BLUE, WHITE = (255, 0, 0), (0, 0, 255), (255, 255, 255)


def encode(image: Image.Image, format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **options)
    return buffer.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A few-byte PNG whose header claims `width` x `height` RGB pixels."""
    data = bytearray(encode(Image.new("RGB", (1, 1)), "PNG"))
    ihdr = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:33] = ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return bytes(data)


def video_bytes(container: str, codec: str) -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container) as output:
        stream = output.add_stream(codec, rate=1)
        stream.width = stream.height = 16
        frame = av.VideoFrame.from_ndarray(np.zeros((16, 16, 3), np.uint8), format="rgb24")
        for packet in [*stream.encode(frame), *stream.encode()]:
            output.mux(packet)
    return buffer.getvalue()


@pytest.mark.parametrize(("format", "name"), [("JPEG", "jpeg"), ("PNG", "png"), ("WEBP", "webp")])
def test_each_accepted_format_decodes_to_rgb(format: str, name: str) -> None:
    data = encode(Image.new("RGB", (30, 20), RED), format, quality=95)

    decoded = decode_image(data)

    assert (decoded.format, decoded.width, decoded.height) == (name, 30, 20)
    assert decoded.image.mode == "RGB" and decoded.image.size == (30, 20)
    assert decoded.sha256 == hashlib.sha256(data).hexdigest()
    assert np.abs(np.asarray(decoded.image).astype(int) - RED).max() <= 8


def test_a_multi_picture_camera_jpeg_is_a_jpeg_showing_its_first_picture() -> None:
    pictures = [Image.new("RGB", (8, 8), colour) for colour in (RED, BLUE)]
    data = encode(pictures[0], "MPO", save_all=True, append_images=pictures[1:])

    decoded = decode_image(data)

    assert decoded.format == "jpeg"
    assert np.abs(np.asarray(decoded.image).astype(int) - RED).max() <= 8


@pytest.mark.parametrize(
    ("image", "format", "expected"),
    [
        (Image.new("1", (8, 8), 1), "PNG", WHITE),
        (Image.new("L", (8, 8), 128), "PNG", (128, 128, 128)),
        (Image.new("L", (8, 8), 128), "JPEG", (128, 128, 128)),
        (Image.new("P", (8, 8), 3), "PNG", (3, 3, 3)),  # the default palette is grey
        (Image.new("I;16", (8, 8), 65535), "PNG", WHITE),  # scaled, not clipped
        (Image.new("I;16", (8, 8), 128 * 257), "PNG", (128, 128, 128)),
        (Image.new("CMYK", (8, 8), (255, 0, 0, 0)), "JPEG", (0, 255, 255)),
        (Image.new("RGBA", (8, 8), (255, 0, 0, 0)), "PNG", WHITE),  # transparent -> white
        (Image.new("RGBA", (8, 8), (255, 0, 0, 255)), "PNG", RED),
        (Image.new("RGBA", (8, 8), (0, 0, 0, 128)), "WEBP", (127, 127, 127)),
        (Image.new("LA", (8, 8), (0, 0)), "PNG", WHITE),
    ],
)
def test_every_mode_becomes_rgb(image: Image.Image, format: str, expected: tuple) -> None:
    decoded = decode_image(encode(image, format, quality=100, lossless=True))

    assert decoded.image.mode == "RGB"
    assert np.abs(np.asarray(decoded.image).astype(int) - expected).max() <= 3


def test_palette_transparency_is_dropped_on_white() -> None:
    image = Image.new("P", (8, 8), 0)
    image.putpalette([*RED, *BLUE])

    decoded = decode_image(encode(image, "PNG", transparency=0))  # red made see-through

    assert np.all(np.asarray(decoded.image) == 255)


def test_exif_orientation_6_rotates_pixels_and_swaps_sides() -> None:
    stored = Image.new("RGB", (40, 20), BLUE)
    stored.paste(RED, (0, 0, 40, 5))  # the top rows, which end up on the right once upright
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display

    decoded = decode_image(encode(stored, "JPEG", quality=95, exif=exif))

    assert (decoded.width, decoded.height) == (20, 40)
    pixels = np.asarray(decoded.image).astype(int)
    assert np.abs(pixels[20, 18] - RED).max() < 30
    assert np.abs(pixels[20, 2] - BLUE).max() < 30


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_matches_pillow(orientation: int) -> None:
    stored = Image.fromarray(np.arange(6 * 4 * 3, dtype=np.uint8).reshape(4, 6, 3))
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(stored, "PNG", exif=exif)

    expected = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))

    assert np.array_equal(np.asarray(decode_image(data).image), np.asarray(expected))


@pytest.mark.parametrize("format", ["PNG", "WEBP"])
def test_animated_images_give_their_first_frame(format: str) -> None:
    frames = [Image.new("RGB", (8, 8), colour) for colour in (RED, BLUE)]
    data = encode(frames[0], format, save_all=True, append_images=frames[1:], lossless=True)

    decoded = decode_image(data)

    assert np.all(np.asarray(decoded.image) == RED)


def test_empty_data_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="empty") as caught:
        decode_image(b"")
    assert type(caught.value) is InvalidInput


@pytest.mark.parametrize(
    ("data", "named"),
    [
        (b"hello, this is not an image\n", "text file"),
        (encode(Image.new("RGB", (4, 4)), "GIF"), "GIF image"),
        (encode(Image.new("RGB", (4, 4)), "BMP"), "BMP image"),
        (encode(Image.new("RGB", (4, 4)), "TIFF"), "TIFF image"),
        (encode(Image.new("RGB", (4, 4)), "PDF"), "PDF document"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", "HEIC or AVIF image"),
        (bytes(range(256)), "unknown type"),
    ],
)
def test_other_formats_are_unsupported_and_named(data: bytes, named: str) -> None:
    with pytest.raises(UnsupportedMedia, match=f"{named} .*was received") as caught:
        decode_image(data)
    assert "JPEG, PNG or WebP" in str(caught.value)


def test_a_video_is_not_an_image() -> None:
    with pytest.raises(UnsupportedMedia, match="an MP4 video"):
        decode_image(video_bytes("mp4", "mpeg4"))


@pytest.mark.parametrize("format", ["JPEG", "PNG", "WEBP"])
def test_truncated_files_are_unsupported(format: str) -> None:
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), np.uint8)
    data = encode(Image.fromarray(noise), format)

    with pytest.raises(UnsupportedMedia, match="truncated or corrupt"):
        decode_image(data[: len(data) // 2])


def test_a_side_over_max_side_is_too_large() -> None:
    data = encode(Image.new("RGB", (300, 200)), "PNG")

    assert decode_image(data, max_side=300).width == 300
    with pytest.raises(TooLarge, match="300x200 pixels; sides of at most 299"):
        decode_image(data, max_side=299)


@pytest.mark.parametrize("pillow_limit", [Image.MAX_IMAGE_PIXELS, None])
def test_a_decompression_bomb_is_refused_from_its_header(
    monkeypatch: pytest.MonkeyPatch, pillow_limit: int | None
) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", pillow_limit)  # our check must not need it
    bomb = png_declaring(30_000, 30_000)  # 2.7 GB of RGB pixels declared in 70 bytes
    buffers_before = Image.core.get_stats()["new_count"]
    started = time.perf_counter()

    with pytest.raises(TooLarge):
        decode_image(bomb)

    assert time.perf_counter() - started < 0.5
    assert Image.core.get_stats()["new_count"] == buffers_before  # no pixel buffer allocated


def test_mask_any_non_zero_pixel_is_true() -> None:
    grey = np.zeros((6, 9), np.uint8)
    grey[1:3, 2:5] = 7
    rgba = np.zeros((6, 9, 4), np.uint8)
    rgba[4, 8] = (0, 0, 1, 0)

    assert np.array_equal(
        decode_mask(encode(Image.fromarray(grey), "PNG"), width=9, height=6), grey > 0
    )
    from_rgba = decode_mask(encode(Image.fromarray(rgba), "PNG"), width=9, height=6)
    assert from_rgba.dtype == bool and from_rgba.sum() == 1 and from_rgba[4, 8]


def test_mask_of_another_size_names_both_sizes() -> None:
    data = encode(Image.new("L", (9, 6)), "PNG")

    with pytest.raises(InvalidInput, match="mask is 9x6 pixels but the image is 10x6"):
        decode_mask(data, width=10, height=6)


def test_mask_must_be_png() -> None:
    with pytest.raises(UnsupportedMedia, match="must be a PNG image, but a JPEG image"):
        decode_mask(encode(Image.new("L", (9, 6)), "JPEG"), width=9, height=6)


@pytest.mark.parametrize(
    ("data", "media_type"),
    [
        (encode(Image.new("RGB", (4, 4)), "JPEG"), "image/jpeg"),
        (encode(Image.new("RGB", (4, 4)), "PNG"), "image/png"),
        (encode(Image.new("RGB", (4, 4)), "WEBP"), "image/webp"),
        (video_bytes("mp4", "mpeg4"), "video/mp4"),
        (video_bytes("mov", "mpeg4"), "video/quicktime"),
        (b"\x00\x00\x00\x08wide\x00\x00\x00\x10mdat", "video/quicktime"),
        (video_bytes("webm", "libvpx"), "video/webm"),
        (b"\x00\x00\x00\x18ftypavif\x00\x00\x00\x00", None),
        (encode(Image.new("RGB", (4, 4)), "GIF"), None),
        (b"just text", None),
        (b"", None),
    ],
)
def test_sniff_routes_by_content(data: bytes, media_type: str | None) -> None:
    assert sniff_media_type(data) == media_type
