"""Videos with PyAV: check an upload against the limits, stream its frames, write an MP4.

Only the container header and the first frame are read to check an upload, so a refusal costs
milliseconds; frames are then decoded one at a time while they are used, never all at once.
"""

from __future__ import annotations

import io
import math
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any, cast

import av
import numpy as np
from av.container import InputContainer
from av.video.stream import VideoStream

from sam3_service.errors import InvalidInput, TooLarge, UnsupportedMedia
from sam3_service.media.images import sniff_media_type

# Decoder name -> what to call it. Anything else is refused before work is queued.
ACCEPTED_CODECS = {"h264": "H.264", "hevc": "H.265", "vp8": "VP8", "vp9": "VP9", "av1": "AV1"}
# What `sniff_media_type` says of MP4, QuickTime and WebM/Matroska files.
VIDEO_MEDIA_TYPES = frozenset({"video/mp4", "video/quicktime", "video/webm"})
ACCEPTED_TEXT = "an MP4, QuickTime or WebM video in H.264 (best), H.265, VP8, VP9 or AV1"

_ENCODER = "libx264"
# No look-ahead and no B-frames: a few frames of memory instead of dozens, and faster.
_ENCODER_OPTIONS = {"crf": "23", "preset": "veryfast", "tune": "zerolatency"}
# What PyAV raises for a file it cannot read (its errors are OSError and ValueError subclasses).
_READ_ERRORS = (av.FFmpegError, OSError, ValueError, IndexError, EOFError)
# A frame may be this far past the declared duration before the file counts as too long.
_TIME_SLACK_S = 0.5


@dataclass(frozen=True)
class VideoLimits:
    """What a video may be: 1080p in either orientation, under 30 s, at most 60 frames a second
    and 1800 frames by default."""

    max_seconds: float = 30.0
    max_long_side: int = 1920
    max_short_side: int = 1080
    max_fps: float = 60.0
    max_frames: int = 1800


@dataclass(frozen=True)
class VideoInfo:
    """Facts read from a video's header and first frame; sizes as displayed (rotation applied)."""

    media_type: str
    codec: str
    width: int
    height: int
    fps: float
    frames: int  # as declared, or estimated from duration x rate
    duration_s: float


@dataclass(frozen=True)
class VideoFrame:
    """One decoded frame: its index in the video, its time and its upright HxWx3 RGB pixels."""

    index: int
    time_s: float
    image: np.ndarray


def is_video(data: bytes) -> bool:
    """Whether `data` starts like one of the video containers we read."""
    return sniff_media_type(data[:64]) in VIDEO_MEDIA_TYPES


def probe_video(data: bytes, limits: VideoLimits) -> VideoInfo:
    """Read the header and the first frame of an upload and check them against `limits`.

    Raises UnsupportedMedia (not a video we read, no video stream, a refused codec, corrupt),
    TooLarge (a side, the duration, the frame rate or the frame count over the limits) or
    InvalidInput (no frame at all).
    """
    media_type = sniff_media_type(data[:64])
    if media_type not in VIDEO_MEDIA_TYPES:
        raise UnsupportedMedia(f"This is not a video we read: send {ACCEPTED_TEXT}.")
    with _reading(), _open(data) as container:
        stream = _video_stream(container)
        codec = _accepted_codec(stream)
        first = _first_frame(container, stream)
        width, height = _upright_size(first)
        _check_size(width, height, limits)
        fps = _frame_rate(stream)
        duration_s = _duration_s(container, stream, fps)
        _check_duration(duration_s, limits)
        frames = stream.frames or max(1, round(duration_s * fps))
        _check_frames(fps, max(frames, round(duration_s * fps)), limits)
    return VideoInfo(media_type, codec, width, height, fps, frames, round(duration_s, 3))


def planned_frames(info: VideoInfo, *, stride: int, max_frames: int | None) -> int:
    """How many frames `iter_frames` is expected to yield with this stride and cap."""
    count = math.ceil(info.frames / stride)
    return count if max_frames is None else min(count, max_frames)


def iter_frames(
    data: bytes, limits: VideoLimits, *, stride: int = 1, max_frames: int | None = None
) -> Generator[VideoFrame]:
    """Decode every `stride`-th frame, upright RGB, at most `max_frames` of them.

    Frames are decoded one at a time as the iterator advances. Raises UnsupportedMedia when
    decoding fails midway and TooLarge when frames run past the duration limit (a header that
    lied), so a task fails cleanly instead of working on an unbounded video.
    """
    yielded = 0
    start_s: float | None = None
    with _reading(), _open(data) as container:
        stream = _video_stream(container)
        stream.thread_type = "AUTO"
        for index, frame in enumerate(container.decode(stream)):
            if max_frames is not None and yielded >= max_frames:
                return
            shown_s = float(frame.time) if frame.time is not None else index / _frame_rate(stream)
            start_s = shown_s if start_s is None else start_s
            time_s = shown_s - start_s
            if time_s > limits.max_seconds + _TIME_SLACK_S:
                raise TooLarge(f"The video runs past {limits.max_seconds:g} s.")
            if index >= limits.max_frames:
                raise TooLarge(f"The video has more than {limits.max_frames} frames.")
            if index % stride == 0:
                yielded += 1
                yield VideoFrame(index, time_s, _upright_rgb(frame))


class Mp4Writer:
    """Encode RGB frames as H.264 in an MP4 file, frame by frame.

    H.264 in 4:2:0 needs even sides, so an odd width or height loses its last pixel column or row.
    """

    def __init__(self, path: Path, *, width: int, height: int, fps: float) -> None:
        self.width, self.height = width - width % 2, height - height % 2
        self.frames = 0
        self._container = av.open(str(path), mode="w", format="mp4")
        rate = Fraction(fps).limit_denominator(1001) if fps > 0 else Fraction(30)
        stream = cast(
            VideoStream, self._container.add_stream(_ENCODER, rate=rate, options=_ENCODER_OPTIONS)
        )
        stream.width, stream.height, stream.pix_fmt = self.width, self.height, "yuv420p"
        self._stream = stream

    def write(self, image: np.ndarray) -> None:
        """Append one HxWx3 uint8 RGB frame of the size given at construction."""
        pixels = np.ascontiguousarray(image[: self.height, : self.width])
        frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
        self._container.mux(self._stream.encode(frame))
        self.frames += 1

    def close(self) -> None:
        """Flush the encoder and finish the file."""
        self._container.mux(self._stream.encode(None))
        self._container.close()

    def __enter__(self) -> Mp4Writer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self._container.close()


def _open(data: bytes) -> InputContainer:
    return av.open(io.BytesIO(data), mode="r")


@contextmanager
def _reading() -> Iterator[None]:
    """Turn PyAV's failures into UnsupportedMedia."""
    try:
        yield
    except _READ_ERRORS as exc:
        raise UnsupportedMedia(
            "The video could not be read; it may be truncated or corrupt. "
            f"Send {ACCEPTED_TEXT} that is complete."
        ) from exc


def _video_stream(container: InputContainer) -> VideoStream:
    if not container.streams:
        raise UnsupportedMedia("The file holds no stream at all: it is truncated or corrupt.")
    if not container.streams.video:
        raise UnsupportedMedia("The file holds no video stream (audio only?).")
    return container.streams.video[0]


def _accepted_codec(stream: VideoStream) -> str:
    codec = stream.codec_context.name
    if codec not in ACCEPTED_CODECS:
        raise UnsupportedMedia(
            f"The video is encoded with {codec!r}, which is not accepted: send {ACCEPTED_TEXT}.",
            codec=codec,
        )
    return codec


def _first_frame(container: InputContainer, stream: VideoStream) -> av.VideoFrame:
    for frame in container.decode(stream):
        return frame
    raise InvalidInput("The video has no frame to segment.")


def _upright_size(frame: av.VideoFrame) -> tuple[int, int]:
    """(width, height) as displayed: a quarter turn swaps them."""
    if frame.rotation % 180:
        return frame.height, frame.width
    return frame.width, frame.height


def _upright_rgb(frame: av.VideoFrame) -> np.ndarray:
    """The frame's pixels as displayed: the container's rotation (quarter turns) applied."""
    image: np.ndarray = frame.to_ndarray(format="rgb24")
    turns = round(frame.rotation / 90) % 4
    return np.ascontiguousarray(np.rot90(image, turns)) if turns else image


def _check_size(width: int, height: int, limits: VideoLimits) -> None:
    if max(width, height) > limits.max_long_side or min(width, height) > limits.max_short_side:
        raise TooLarge(
            f"The video is {width}x{height} pixels; at most {limits.max_long_side}x"
            f"{limits.max_short_side} (either way round) is accepted. Downscale it.",
            width=width,
            height=height,
        )


def _frame_rate(stream: VideoStream) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(rate) if rate else 30.0


def _duration_s(container: InputContainer, stream: VideoStream, fps: float) -> float:
    """From the stream header, else the container's, else by counting packets (no decoding)."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    packets: Any = container.demux(stream)
    return sum(1 for packet in packets if packet.size) / fps


def _check_frames(fps: float, frames: int, limits: VideoLimits) -> None:
    if fps > limits.max_fps:
        raise TooLarge(
            f"The video has {fps:.0f} frames a second; at most {limits.max_fps:g} is accepted.",
            fps=round(fps, 3),
        )
    if frames > limits.max_frames:
        raise TooLarge(
            f"The video has {frames} frames; at most {limits.max_frames} is accepted. "
            "Cut it shorter or lower its frame rate.",
            frames=frames,
        )


def _check_duration(duration_s: float, limits: VideoLimits) -> None:
    if duration_s > limits.max_seconds:
        raise TooLarge(
            f"The video lasts {duration_s:.1f} s; at most {limits.max_seconds:g} s is accepted. "
            "Cut it shorter.",
            duration_s=round(duration_s, 3),
        )
