"""Synthetic videos for the tests, made with PyAV: shapes moving across a gradient."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Iterator
from typing import Any

import av
import numpy as np
from pycocotools import mask as mask_utils


def moving_shapes(count: int, width: int = 160, height: int = 120) -> Iterator[np.ndarray]:
    """`count` RGB frames: a yellow disc moving right and a green square moving down."""
    rows, columns = np.mgrid[0:height, 0:width]
    background = np.zeros((height, width, 3), np.uint8)
    background[..., 0] = columns * 255 // max(width - 1, 1)
    background[..., 1], background[..., 2] = 90, 160
    radius, side = height // 6, height // 4
    for index in range(count):
        frame = background.copy()
        cx, cy = width // 6 + index * width // (2 * max(count, 1)), height // 2
        frame[(columns - cx) ** 2 + (rows - cy) ** 2 <= radius**2] = (230, 200, 40)
        top = height // 8 + index * height // (2 * max(count, 1))
        frame[top : top + side, width * 5 // 8 : width * 5 // 8 + side] = (20, 160, 60)
        yield frame


def encode_video(
    frames: Iterable[np.ndarray],
    *,
    fps: float = 12,
    codec: str = "libx264",
    container: str = "mp4",
    rotation: int | None = None,
    options: dict[str, str] | None = None,
) -> bytes:
    """Encode RGB frames (all of one size) into a video file's bytes."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container, options=options or {}) as output:
        stream: Any = None
        for image in frames:
            if stream is None:
                stream = output.add_stream(codec, rate=round(fps))
                stream.height, stream.width = image.shape[:2]
                stream.pix_fmt = "yuv420p"
                if rotation is not None:
                    stream.set_display_rotation(rotation)
            output.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        if stream is not None:
            output.mux(stream.encode(None))
    return buffer.getvalue()


def make_mp4(frames: int = 12, width: int = 160, height: int = 120, **options: Any) -> bytes:
    """An H.264 MP4 of moving shapes."""
    return encode_video(moving_shapes(frames, width, height), **options)


def audio_only_mp4() -> bytes:
    """An MP4 holding a short silent AAC track and no video."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as output:
        stream: Any = output.add_stream("aac", rate=8000)
        silence = av.AudioFrame.from_ndarray(
            np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
        )
        silence.sample_rate = 8000
        output.mux(stream.encode(silence))
        output.mux(stream.encode(None))
    return buffer.getvalue()


def frameless_mkv() -> bytes:
    """A Matroska file with an H.264 video track that holds no frame (only empty packets)."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="matroska") as output:
        stream: Any = output.add_stream("libx264", rate=12)
        stream.width, stream.height, stream.pix_fmt = 64, 32, "yuv420p"
        black = av.VideoFrame.from_ndarray(np.zeros((32, 64, 3), np.uint8), format="rgb24")
        time_base = [*stream.encode(black), *stream.encode(None)][0].time_base
        for index in range(6):
            packet = av.Packet(b"")
            packet.stream, packet.time_base, packet.pts, packet.dts = (
                stream,
                time_base,
                index,
                index,
            )
            output.mux(packet)
    return buffer.getvalue()


def decode_frames(data: bytes) -> list[np.ndarray]:
    """Every frame of a video, as RGB arrays."""
    with av.open(io.BytesIO(data)) as video:
        return [frame.to_ndarray(format="rgb24") for frame in video.decode(video=0)]


def video_codec(data: bytes) -> str:
    with av.open(io.BytesIO(data)) as video:
        return str(video.streams.video[0].codec_context.name)


def read_jsonl(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in data.decode().splitlines()]


def check_jsonl_frames(lines: list[dict[str, Any]], *, width: int, height: int) -> None:
    """Each line is a frame; each object has an int id, a score, a bbox and an RLE of the size."""
    frames = [line["frame"] for line in lines]
    assert frames == sorted(frames) and len(set(frames)) == len(frames)
    for line in lines:
        ids = [obj["id"] for obj in line["objects"]]
        assert len(set(ids)) == len(ids)
        for obj in line["objects"]:
            assert isinstance(obj["id"], int) and 0 <= obj["score"] <= 1
            x0, y0, x1, y1 = obj["bbox"]
            assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
            rle = {"size": obj["rle"]["size"], "counts": obj["rle"]["counts"].encode()}
            mask = mask_utils.decode(rle)
            assert mask.shape == (height, width)
            assert int(mask.sum()) == obj["area"] > 0
