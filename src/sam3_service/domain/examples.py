"""The "try an example" pictures: a fixed catalogue whose results are computed once through the
normal segmentation path, then answered from the result cache, with ETags for CDNs."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from typing import Any

from ..errors import NotFound
from . import jobs, model_traffic, segment
from .params import SegmentParams
from .services import Services

EXAMPLES_OWNER = segment.PUBLIC_OWNER
# The web page asks for every object scoring at least this and filters with its own slider.
SCORE_FLOOR = 0.05


@dataclass(frozen=True)
class Example:
    """One sample picture with a prompt that fits it, and whom to credit for it."""

    name: str
    file: str
    title: str
    prompt: str
    credit: str
    licence: str

    @property
    def media_type(self) -> str:
        return "image/jpeg" if self.file.endswith((".jpg", ".jpeg")) else "image/png"

    def params(self) -> SegmentParams:
        return SegmentParams.model_validate({"prompt": self.prompt, "score_threshold": SCORE_FLOOR})


# Pictures from scikit-image's `skimage/data/` (licences as that project states them).
CATALOGUE: tuple[Example, ...] = (
    Example("cat", "chelsea.png", "Chelsea the cat", "cat", "Stefan van der Walt", "CC0"),
    Example("coffee", "coffee.png", "A cup of coffee", "cup", "Rachel Michetti", "CC0"),
    Example(
        "astronaut", "astronaut.png", "Astronaut Eileen Collins", "person", "NASA", "public domain"
    ),
    Example(
        "rocket", "rocket.jpg", "A rocket on its launch pad", "rocket", "SpaceX", "public domain"
    ),
)


def find(name: str) -> Example:
    """The example called `name`. Raises NotFound."""
    for example in CATALOGUE:
        if example.name == name:
            return example
    known = ", ".join(example.name for example in CATALOGUE)
    raise NotFound(f"no example {name!r}; the examples are {known}")


def read_image(directory: Traversable, example: Example) -> bytes:
    """The example's picture file."""
    return directory.joinpath(example.file).read_bytes()


def image_etag(image: bytes) -> str:
    """A strong ETag for the picture: its sha256."""
    return f'"{hashlib.sha256(image).hexdigest()}"'


def result_etag(example: Example, image: bytes, model_version: str) -> str:
    """A strong ETag for the result: it changes with the model, the picture and the prompt."""
    identity = [model_version, hashlib.sha256(image).hexdigest(), example.params().model_dump()]
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
    return f'"{digest[:40]}"'


def loaded_model_version(services: Services) -> str | None:
    """The version that serves the examples here, None where workers hold it. Raises
    ModelNotReady (or ModelVersionUnavailable)."""
    return model_traffic.served_version(services, EXAMPLES_OWNER)


async def compute_result(services: Services, example: Example, image: bytes) -> dict[str, Any]:
    """The example's result, segmented once and then served from the result cache.

    Raises ModelNotReady while the model loads, like any segmentation."""
    loaded_model_version(services)  # fail before recording a task that cannot run
    _, result = await jobs.segment_now(
        services, params=example.params(), data=image, owner=EXAMPLES_OWNER
    )
    return result
