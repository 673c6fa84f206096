"""Find the SAM 3 weights a spec names, on this machine only, and load the engine."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from huggingface_hub import snapshot_download
from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

from ..errors import ConfigError
from ..settings import TINY_RANDOM
from .checksum import model_version
from .sam3 import Sam3Engine
from .threads import apply_torch_threads
from .tiny import build_tiny_model, read_marker
from .weights import load_weights

__all__ = ["ModelSource", "load_engine", "resolve_model"]

_REPO_ID = re.compile(r"^[\w.-]+/[\w.-]+$")
_WEIGHTS = ("*.safetensors", "*.bin")


@dataclass(frozen=True)
class ModelSource:
    """A checkpoint folder on this machine and how to name it in results."""

    path: Path
    name: str
    version: str  # the Hub snapshot's commit, or the checksum of the folder's content
    random: bool


def resolve_model(spec: str, models_dir: Path, *, hf_cache_dir: Path | None = None) -> ModelSource:
    """Resolve `tiny-random`, a local folder or a Hugging Face id already in the local cache.

    Never downloads. Raises ConfigError saying why and how to fix it.
    """
    if spec == TINY_RANDOM:
        try:
            folder = build_tiny_model(Path(models_dir) / TINY_RANDOM)
        except FileExistsError as exc:
            raise ConfigError(f"{exc}; delete it to rebuild the tiny random model") from exc
        return _local_source(folder, name=TINY_RANDOM)
    folder = Path(spec).expanduser()
    if folder.exists():
        return _local_source(folder, name=folder.name)
    if _REPO_ID.match(spec):
        return _cached_hub_source(spec, hf_cache_dir)
    raise _not_found(spec, f"there is no folder {folder}")


def load_engine(
    spec: str,
    *,
    models_dir: Path,
    device: str = "auto",
    attention: str = "sdpa",
    threads: int | None = None,
    **options: Any,
) -> Sam3Engine:
    """Resolve `spec` (see `resolve_model`) and load it. Raises ConfigError if it cannot.

    `threads` sets torch's threads in this process first (None: as they are); `device` and
    `attention` go to `load_weights`; `options` are the engine's cache, batching and
    compilation settings (see `Sam3Engine`).
    """
    source = resolve_model(spec, models_dir)
    if threads is not None:
        apply_torch_threads(threads)
    weights = load_weights(source.path, device=device, attention=attention)
    return Sam3Engine(
        weights, name=source.name, version=source.version, random=source.random, **options
    )


def _local_source(folder: Path, *, name: str, version: str | None = None) -> ModelSource:
    if not folder.is_dir():
        raise _not_found(str(folder), f"{folder} is not a folder")
    if not (folder / "config.json").is_file():
        raise _not_found(str(folder), f"{folder} has no config.json")
    weights = sorted(path for pattern in _WEIGHTS for path in folder.glob(pattern))
    if not weights:
        raise _not_found(str(folder), f"{folder} has no *.safetensors weights")
    marker = read_marker(folder)
    return ModelSource(
        path=folder.resolve(),
        name=name,
        version=version or model_version(folder),
        random=bool(marker and marker.get("random")),
    )


def _cached_hub_source(repo_id: str, cache_dir: Path | None) -> ModelSource:
    try:
        snapshot = snapshot_download(repo_id, cache_dir=cache_dir, local_files_only=True)
    except (LocalEntryNotFoundError, HFValidationError) as exc:
        raise _not_found(repo_id, f"{repo_id} is not in the local Hugging Face cache") from exc
    folder = Path(str(snapshot))
    return _local_source(folder, name=repo_id, version=folder.name[:12])


def _not_found(spec: str, reason: str) -> ConfigError:
    repo_id = spec if _REPO_ID.match(spec) else "facebook/sam3"
    return ConfigError(
        f"Cannot load the SAM 3 model {spec!r}: {reason}. To fix it, either put the weights "
        "(config.json, model.safetensors and the processor files) in a folder and set "
        f"SAM3_MODEL=/path/to/that/folder; or run `hf download {repo_id}` (the repository is "
        f"gated: first accept the licence on https://huggingface.co/{repo_id} and run "
        "`hf auth login`); or set SAM3_MODEL=tiny-random to try the service with random "
        "weights."
    )
