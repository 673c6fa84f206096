"""Decode uploaded images and input masks, and tell media types apart by their first bytes.

Pillow only ever sees a format that the magic bytes already identified, and sizes are checked
from the header before a single pixel is decoded, so a decompression bomb costs a header read.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image

from sam3_service.errors import InvalidInput, TooLarge, UnsupportedMedia

ImageFormat = Literal["jpeg", "png", "webp"]

# Media type -> the one Pillow plugin allowed to open it.
_PIL_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}
# Pillow's format name -> ours. Camera JPEGs with extra pictures (MPO) are JPEGs.
_FORMAT_NAMES: dict[str, ImageFormat] = {
    "JPEG": "jpeg",
    "MPO": "jpeg",
    "PNG": "png",
    "WEBP": "webp",
}
# What Pillow raises for a truncated or corrupt file (UnidentifiedImageError is an OSError).
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError)

# EXIF orientation -> the transpose that makes the image upright (orientation 1 needs none).
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_ORIENTATION_TAG = 0x0112

_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"avif"}
_QUICKTIME_ATOMS = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}
_OTHER_SIGNATURES = (
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive"),
)
_MEDIA_NAMES = {
    "video/mp4": "an MP4 video",
    "video/quicktime": "a QuickTime video",
    "video/webm": "a WebM video",
}


@dataclass(frozen=True)
class DecodedImage:
    """An upright RGB image and facts about the upload it came from."""

    image: Image.Image
    width: int
    height: int
    sha256: str
    format: ImageFormat


def sniff_media_type(data: bytes) -> str | None:
    """Name the media type of `data` from its magic bytes, or None if it is none of ours."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith(b"\x1a\x45\xdf\xa3"):  # EBML: WebM (and Matroska, which PyAV reads alike)
        return "video/webm"
    if data[4:8] == b"ftyp":
        return _iso_bmff_type(brand=data[8:12])
    if data[4:8] in _QUICKTIME_ATOMS:  # QuickTime files from before the ftyp box
        return "video/quicktime"
    return None


def decode_image(data: bytes, *, max_side: int = 4096) -> DecodedImage:
    """Decode a JPEG, PNG or WebP upload into an upright RGB image (first frame if animated).

    Transparent pixels are composited onto white. Raises InvalidInput for empty data,
    UnsupportedMedia for another format or a corrupt file, TooLarge for a side over `max_side`.
    """
    expected = "a JPEG, PNG or WebP image"
    pil_format = _pil_format(data, what="image", accepted=_PIL_FORMATS, expected=expected)
    with (
        _decoding("image", received=pil_format, expected=expected),
        Image.open(io.BytesIO(data), formats=[pil_format]) as img,
    ):
        _check_sides(img.size, max_side)
        img.load()
        upright = _upright(img)
        format_name = _FORMAT_NAMES[img.format or pil_format]
    rgb = _to_rgb(upright)
    return DecodedImage(
        image=rgb,
        width=rgb.width,
        height=rgb.height,
        sha256=hashlib.sha256(data).hexdigest(),
        format=format_name,
    )


def decode_mask(data: bytes, *, width: int, height: int) -> np.ndarray:
    """Decode a PNG input mask to a bool HxW array: a pixel with any non-zero channel is True.

    Raises InvalidInput when the mask is empty or its size differs from `width` x `height`,
    UnsupportedMedia when it is not a readable PNG.
    """
    expected = "a PNG image"
    _pil_format(data, what="mask", accepted={"image/png": "PNG"}, expected=expected)
    with (
        _decoding("mask", received="PNG", expected=expected),
        Image.open(io.BytesIO(data), formats=["PNG"]) as img,
    ):
        if img.size != (width, height):
            raise InvalidInput(
                f"The mask is {img.width}x{img.height} pixels but the image is "
                f"{width}x{height}; they must be the same size.",
                mask_size=list(img.size),
                image_size=[width, height],
            )
        img.load()
        nonzero: np.ndarray = np.asarray(img) != 0
    return np.any(nonzero, axis=2) if nonzero.ndim == 3 else nonzero


def _pil_format(data: bytes, *, what: str, accepted: dict[str, str], expected: str) -> str:
    """Return the Pillow format of `data` if its media type is `accepted`, else raise."""
    if not data:
        raise InvalidInput(f"The {what} is empty (0 bytes); send {expected}.")
    media_type = sniff_media_type(data)
    if media_type in accepted:
        return accepted[media_type]
    raise UnsupportedMedia(
        f"The {what} must be {expected}, but {_describe(data, media_type)} "
        f"({len(data)} bytes) was received.",
        received=media_type,
    )


def _iso_bmff_type(*, brand: bytes) -> str | None:
    """Name an ISO base media file by its major brand; HEIF/AVIF stills are not videos."""
    if brand == b"qt  ":
        return "video/quicktime"
    if brand in _HEIF_BRANDS:
        return None
    return "video/mp4"


def _describe(data: bytes, media_type: str | None) -> str:
    """Say in plain words what kind of file `data` looks like."""
    if media_type in _MEDIA_NAMES:
        return _MEDIA_NAMES[media_type]
    if media_type is not None:
        return f"a {media_type.split('/')[1].upper()} image"
    if data[4:8] == b"ftyp":
        return "a HEIC or AVIF image"
    for signature, name in _OTHER_SIGNATURES:
        if data.startswith(signature):
            return name
    if _looks_like_text(data[:512]):
        return "a text file"
    if data.startswith(b"BM"):
        return "a BMP image"
    return "a file of unknown type"


def _looks_like_text(head: bytes) -> bool:
    """Tell whether `head` reads as UTF-8 text without control characters."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(char.isprintable() or char in "\t\n\r" for char in text)


@contextmanager
def _decoding(what: str, *, received: str, expected: str) -> Iterator[None]:
    """Turn Pillow's failures while decoding `what` into our errors."""
    try:
        yield
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise TooLarge(f"The {what} declares too many pixels to decode.") from exc
    except _DECODE_ERRORS as exc:
        raise UnsupportedMedia(
            f"The {what} starts like a {received} file but could not be decoded; it "
            f"may be truncated or corrupt. Send {expected} that is complete.",
            received=received,
        ) from exc


def _check_sides(size: tuple[int, int], max_side: int) -> None:
    """Raise TooLarge if either declared side exceeds `max_side`."""
    width, height = size
    if max(width, height) > max_side:
        raise TooLarge(
            f"The image is {width}x{height} pixels; sides of at most {max_side} pixels are "
            f"accepted. Downscale it and send it again.",
            width=width,
            height=height,
            max_side=max_side,
        )


def _upright(img: Image.Image) -> Image.Image:
    """Apply the EXIF orientation (ImageOps.exif_transpose would also rewrite the EXIF block)."""
    transpose = _UPRIGHT.get(img.getexif().get(_ORIENTATION_TAG, 1))
    return img.transpose(transpose) if transpose is not None else img


def _to_rgb(img: Image.Image) -> Image.Image:
    """Convert any Pillow mode to RGB: 16-bit grey is scaled, transparency goes onto white."""
    if img.mode == "RGB":
        return img
    if img.mode.startswith("I"):  # 16- or 32-bit grey: Pillow would clip to 255, so scale
        grey = np.clip(np.asarray(img, dtype=np.int64), 0, 65535) // 257
        return Image.fromarray(grey.astype(np.uint8)).convert("RGB")
    if img.has_transparency_data:
        white = Image.new("RGBA", img.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, img.convert("RGBA")).convert("RGB")
    return img.convert("RGB")
