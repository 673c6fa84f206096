"""Probing uploads against the limits, streaming frames, writing MP4s."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sam3_service.errors import InvalidInput, TooLarge, UnsupportedMedia
from sam3_service.media import (
    Mp4Writer,
    VideoLimits,
    is_video,
    iter_frames,
    overlay_frame,
    planned_frames,
    probe_video,
)
from tests.helpers import png_bytes
from tests.video_helpers import (
    audio_only_mp4,
    decode_frames,
    encode_video,
    frameless_mkv,
    make_mp4,
    moving_shapes,
    video_codec,
)

LIMITS = VideoLimits()


def test_probe_reads_an_h264_mp4() -> None:
    info = probe_video(make_mp4(12, 160, 120, fps=12), LIMITS)

    assert (info.media_type, info.codec) == ("video/mp4", "h264")
    assert (info.width, info.height, info.frames) == (160, 120, 12)
    assert info.fps == 12 and info.duration_s == pytest.approx(1.0)


def test_probe_accepts_vp9_in_webm() -> None:
    data = encode_video(moving_shapes(4), codec="libvpx-vp9", container="webm")

    info = probe_video(data, LIMITS)

    assert (info.media_type, info.codec, info.frames) == ("video/webm", "vp9", 4)


def test_rotated_video_is_reported_and_decoded_upright() -> None:
    data = make_mp4(3, 160, 120, rotation=-90)

    info = probe_video(data, LIMITS)
    frames = list(iter_frames(data, LIMITS))

    assert (info.width, info.height) == (120, 160)
    assert all(frame.image.shape == (160, 120, 3) for frame in frames)
    # A quarter turn clockwise: the gradient that ran left to right now runs top to bottom.
    assert frames[0].image[0, :, 0].std() < 20 < frames[0].image[:, 0, 0].std()


@pytest.mark.parametrize(
    ("data", "error", "words"),
    [
        (make_mp4(2, 1936, 64), TooLarge, "1936x64"),
        (make_mp4(2, 1090, 1088), TooLarge, "1090x1088"),
        (make_mp4(32, 32, 32, fps=1), TooLarge, "32.0 s"),
        (audio_only_mp4(), UnsupportedMedia, "no video stream"),
        (make_mp4(4, codec="mpeg4"), UnsupportedMedia, "'mpeg4'"),
        (make_mp4(12)[:900], UnsupportedMedia, "truncated or corrupt"),
        (frameless_mkv(), InvalidInput, "no frame"),
        (png_bytes(), UnsupportedMedia, "not a video"),
    ],
    ids=[
        "too-wide",
        "too-large-both",
        "too-long",
        "audio-only",
        "mpeg4",
        "truncated",
        "no-frame",
        "png",
    ],
)
def test_probe_refuses_what_the_limits_exclude(data: bytes, error: type, words: str) -> None:
    with pytest.raises(error) as caught:
        probe_video(data, LIMITS)
    assert words in str(caught.value)


def test_portrait_1080p_fits_the_limits_either_way_round() -> None:
    limits = VideoLimits(max_long_side=64, max_short_side=32)

    assert probe_video(make_mp4(2, 32, 64), limits).height == 64
    with pytest.raises(TooLarge):
        probe_video(make_mp4(2, 48, 48), limits)


def test_frames_stream_with_stride_and_cap() -> None:
    data = make_mp4(12, fps=12)

    every_fifth = list(iter_frames(data, LIMITS, stride=5))
    capped = list(iter_frames(data, LIMITS, stride=2, max_frames=4))

    assert [frame.index for frame in every_fifth] == [0, 5, 10]
    assert [frame.index for frame in capped] == [0, 2, 4, 6]
    assert capped[1].time_s == pytest.approx(2 / 12)
    assert capped[0].image.shape == (120, 160, 3) and capped[0].image.dtype == np.uint8
    info = probe_video(data, LIMITS)
    assert planned_frames(info, stride=5, max_frames=None) == 3
    assert planned_frames(info, stride=2, max_frames=4) == 4


def test_frames_past_the_duration_limit_stop_the_stream() -> None:
    with pytest.raises(TooLarge):
        list(iter_frames(make_mp4(8, 32, 32, fps=2), VideoLimits(max_seconds=2)))


def test_sniffing_tells_videos_from_images() -> None:
    assert is_video(make_mp4(1)) and not is_video(png_bytes()) and not is_video(b"")


def test_writer_makes_an_h264_mp4_of_the_frames(tmp_path: Path) -> None:
    frames = list(moving_shapes(6, 96, 64))
    path = tmp_path / "out.mp4"

    with Mp4Writer(path, width=96, height=64, fps=6) as writer:
        for frame in frames:
            writer.write(frame)

    data = path.read_bytes()
    decoded = decode_frames(data)
    assert video_codec(data) == "h264" and len(decoded) == 6 == writer.frames
    assert decoded[0].shape == (64, 96, 3)
    assert np.abs(decoded[3].astype(int) - frames[3]).mean() < 8  # lossy, but the same picture


def test_writer_drops_an_odd_last_row_and_column(tmp_path: Path) -> None:
    path = tmp_path / "odd.mp4"
    with Mp4Writer(path, width=95, height=63, fps=5) as writer:
        writer.write(next(moving_shapes(1, 95, 63)))

    assert decode_frames(path.read_bytes())[0].shape == (62, 94, 3)


def test_overlay_colours_follow_object_ids_not_positions() -> None:
    frame = np.zeros((20, 40, 3), np.uint8)
    left, right = np.zeros((20, 40), bool), np.zeros((20, 40), bool)
    left[5:15, 2:12], right[5:15, 25:35] = True, True

    first = overlay_frame(frame, [left, right], colour_ids=[3, 7])
    later = overlay_frame(frame, [right], colour_ids=[7])

    assert np.array_equal(first[10, 30], later[10, 30])
    assert not np.array_equal(first[10, 7], first[10, 30])
    with pytest.raises(InvalidInput):
        overlay_frame(frame, [left], colour_ids=[-1])


def test_the_frame_rate_and_the_frame_count_are_capped_from_the_header() -> None:
    with pytest.raises(TooLarge, match="frames a second"):
        probe_video(make_mp4(6, 32, 32, fps=50), VideoLimits(max_fps=30))
    with pytest.raises(TooLarge, match="40 frames"):
        probe_video(make_mp4(40, 32, 32, fps=20), VideoLimits(max_frames=30))
    assert probe_video(make_mp4(30, 32, 32, fps=20), VideoLimits(max_frames=30)).frames == 30


def test_frames_past_the_cap_stop_the_decoding() -> None:
    frames = iter_frames(make_mp4(12, 32, 32, fps=12), VideoLimits(max_frames=5))
    with pytest.raises(TooLarge, match="more than 5 frames"):
        list(frames)
