"""Writing a video's results as they become final: a JSON line and an overlay frame a frame."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Generator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO, Any

from ...inference.base import TrackedFrame
from ...media import Mp4Writer, VideoFrame, encode_rle, mask_area, overlay_frame


class FrameOutput:
    """Decodes frames, and writes results as they become final: a JSON line and an overlay
    frame per frame, on the media thread.

    Results may come some frames after their frame was decoded; the decoded frames wait in
    `pending` until then (the session says how many at most: its `delay`).
    """

    def __init__(self, lines: IO[str], writer: Mp4Writer, media: ThreadPoolExecutor) -> None:
        self.pending: deque[VideoFrame] = deque()
        self.tracks: dict[int, Track] = {}
        self._lines = lines
        self._writer = writer
        self._media = media

    async def decode(self, frames: Generator[VideoFrame]) -> VideoFrame | None:
        """The next frame, or None after the last."""
        loop = asyncio.get_running_loop()
        frame = await loop.run_in_executor(self._media, next, frames, None)
        if frame is not None:
            self.pending.append(frame)
        return frame

    async def write(self, ready: list[TrackedFrame]) -> None:
        """Write the results that became final."""
        await asyncio.get_running_loop().run_in_executor(self._media, self._write, ready)

    def _write(self, ready: list[TrackedFrame]) -> None:
        for tracked in ready:
            frame = self.pending.popleft()
            objects = tracked.objects
            line = {
                "frame": frame.index,
                "time_s": round(frame.time_s, 4),
                "objects": [
                    {
                        "id": obj.id,
                        "score": obj.score,
                        "bbox": [round(value, 2) for value in obj.box],
                        "area": mask_area(obj.mask),
                        "rle": encode_rle(obj.mask),
                    }
                    for obj in objects
                ],
            }
            self._lines.write(json.dumps(line, separators=(",", ":")) + "\n")
            self._writer.write(
                overlay_frame(
                    frame.image,
                    [obj.mask for obj in objects],
                    labels=[f"{obj.id} {obj.score:.2f}" for obj in objects],
                    colour_ids=[obj.id for obj in objects],
                )
            )
            for obj in objects:
                self.tracks.setdefault(obj.id, Track(obj.id, frame.index)).add(
                    frame.index, obj.score
                )


@dataclass
class Track:
    id: int
    first_frame: int
    last_frame: int = 0
    frames: int = 0
    score_sum: float = 0.0

    def add(self, frame: int, score: float) -> None:
        self.last_frame, self.frames, self.score_sum = (
            frame,
            self.frames + 1,
            self.score_sum + score,
        )

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "first_frame": self.first_frame,
            "last_frame": self.last_frame,
            "frames": self.frames,
            "mean_score": round(self.score_sum / self.frames, 5),
        }
