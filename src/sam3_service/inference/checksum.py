"""A model's version taken from its content, so that equal weights are one version everywhere.

A folder's checksum is SHA-256 over its weights, configurations and tokenizer files (top level
only, in the order of their names), each as its name, size and bytes: modification times,
other files and the folder's own path do not count. A folder that is a snapshot in the
Hugging Face cache (`models--org--name/snapshots/<commit>/`) is versioned by that commit,
which names its content already, without reading the weights.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError

__all__ = ["ModelFingerprint", "hub_revision", "model_fingerprint", "model_version"]

VERSION_CHARS = 12  # how much of a checksum or commit names a version
_WEIGHTS = ("*.safetensors", "*.bin")
_CONFIGS = ("*.json", "*.txt", "*.model")  # configs, vocabularies, merges, sentencepiece
_CHUNK = 1 << 20
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class ModelFingerprint:
    """What a model folder holds: the checksum of its files and, for a Hub snapshot, its commit."""

    checksum: str  # SHA-256 (hex) of the weights, configurations and tokenizer files
    revision: str | None  # the Hub commit, where the folder is a snapshot of the Hub cache

    @property
    def version(self) -> str:
        """The short name of this content: the Hub commit's start, else the checksum's."""
        return (self.revision or self.checksum)[:VERSION_CHARS]


def model_fingerprint(folder: Path) -> ModelFingerprint:
    """Read every content file of `folder` (streamed) into its fingerprint.

    Raises ConfigError if `folder` is not a folder or holds no weights.
    """
    digest = hashlib.sha256()
    for path in _content_files(folder):
        digest.update(f"{path.name}\0{path.stat().st_size}\0".encode())
        with path.open("rb") as data:
            while chunk := data.read(_CHUNK):
                digest.update(chunk)
    return ModelFingerprint(checksum=digest.hexdigest(), revision=hub_revision(folder))


def model_version(folder: Path) -> str:
    """The version of the model in `folder`: a Hub snapshot's commit costs no reading, a local
    folder's is its checksum. Raises ConfigError as `model_fingerprint` does."""
    revision = hub_revision(folder)
    if revision is not None and _has_weights(folder):
        return revision[:VERSION_CHARS]
    return model_fingerprint(folder).version


def hub_revision(folder: Path) -> str | None:
    """The commit of a Hugging Face cache snapshot (`models--*/snapshots/<commit>`), else None."""
    folder = Path(folder)
    snapshots = folder.parent
    if (
        _COMMIT.match(folder.name)
        and snapshots.name == "snapshots"
        and snapshots.parent.name.startswith("models--")
    ):
        return folder.name
    return None


def _content_files(folder: Path) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"{folder} is not a model folder")
    if not _has_weights(folder):
        raise ConfigError(f"{folder} holds no *.safetensors or *.bin weights")
    found = {path for pattern in _WEIGHTS + _CONFIGS for path in folder.glob(pattern)}
    return sorted((p for p in found if p.is_file()), key=lambda path: path.name)


def _has_weights(folder: Path) -> bool:
    return any(path.is_file() for pattern in _WEIGHTS for path in Path(folder).glob(pattern))
