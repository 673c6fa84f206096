"""Write docs/examples/rocket.mp4, the README's sample clip: 2 s (16 frames at 8 fps) of a
slow zoom into the example picture rocket.jpg, 320x212, H.264. Run it again to rebuild the clip:

    .venv/bin/python scripts/make_sample_clip.py
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "src/sam3_service/web/examples/rocket.jpg"
TARGET = ROOT / "docs/examples/rocket.mp4"
FRAMES, FPS, SIZE = 16, 8, (320, 212)


def frames(picture: Image.Image) -> list[np.ndarray]:
    """A zoom from the whole picture to its middle 80%, each frame scaled to SIZE."""
    width, height = picture.size
    out = []
    for index in range(FRAMES):
        margin = 0.1 * index / (FRAMES - 1)
        box = (width * margin, height * margin, width * (1 - margin), height * (1 - margin))
        out.append(np.asarray(picture.resize(SIZE, Image.Resampling.BICUBIC, box=box)))
    return out


def main() -> None:
    picture = Image.open(SOURCE).convert("RGB")
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(TARGET), mode="w") as output:
        stream = output.add_stream("libx264", rate=FPS, options={"crf": "30"})
        stream.width, stream.height = SIZE
        stream.pix_fmt = "yuv420p"
        for frame in frames(picture):
            output.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        output.mux(stream.encode(None))
    print(f"wrote {TARGET} ({TARGET.stat().st_size} bytes)")  # noqa: T201


if __name__ == "__main__":
    main()
