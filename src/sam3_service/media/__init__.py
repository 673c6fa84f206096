"""Pure media functions: decode uploads and videos, encode masks, draw overlays. No torch."""

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
from sam3_service.media.video import (
    Mp4Writer,
    VideoFrame,
    VideoInfo,
    VideoLimits,
    is_video,
    iter_frames,
    planned_frames,
    probe_video,
)

__all__ = [
    "DecodedImage",
    "Mp4Writer",
    "VideoFrame",
    "VideoInfo",
    "VideoLimits",
    "decode_image",
    "decode_mask",
    "decode_rle",
    "encode_rle",
    "is_video",
    "iter_frames",
    "label_png",
    "mask_area",
    "mask_bbox",
    "mask_to_png",
    "mask_to_polygons",
    "overlay_frame",
    "overlay_png",
    "palette",
    "planned_frames",
    "probe_video",
    "sniff_media_type",
]
