"""Pure media functions: decode uploads, encode masks, draw overlays. No torch, no HTTP."""

from sam3_service.media.images import DecodedImage, decode_image, decode_mask, sniff_media_type
from sam3_service.media.masks import (
    decode_rle,
    encode_rle,
    mask_area,
    mask_bbox,
    mask_to_png,
    mask_to_polygons,
)
from sam3_service.media.render import label_png, overlay_frame, overlay_png, palette

__all__ = [
    "DecodedImage",
    "decode_image",
    "decode_mask",
    "decode_rle",
    "encode_rle",
    "label_png",
    "mask_area",
    "mask_bbox",
    "mask_to_png",
    "mask_to_polygons",
    "overlay_frame",
    "overlay_png",
    "palette",
    "sniff_media_type",
]
