"""How much memory a model's weights take once loaded, read from the files without loading them.

A safetensors file starts with a JSON header naming each tensor's dtype and shape: floating
tensors are counted in the dtype the model will load in, the others as stored. A pickled
`*.bin` file has no such header and counts by its size.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Any

from ..errors import ConfigError

__all__ = ["weights_bytes"]

_ITEM_BYTES = {
    "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1,
    "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1,
}  # fmt: skip
_FLOATS = {"F64", "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2"}
_LOAD_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}
_MAX_HEADER = 100 << 20  # safetensors' own limit


def weights_bytes(folder: Path, dtype: str | None = None) -> int:
    """Bytes of the weights in `folder` once loaded with floating tensors in `dtype`
    (float32, float16 or bfloat16; None: as stored).

    Raises ConfigError for another dtype, a folder without weights or a damaged header.
    """
    if dtype is not None and dtype not in _LOAD_BYTES:
        raise ConfigError(f"the dtype must be one of {sorted(_LOAD_BYTES)}, got {dtype!r}")
    folder = Path(folder)
    safetensors = sorted(folder.glob("*.safetensors"))
    pickled = sorted(folder.glob("*.bin"))
    if not safetensors and not pickled:
        raise ConfigError(f"{folder} holds no *.safetensors or *.bin weights")
    total = sum(path.stat().st_size for path in pickled)
    for path in safetensors:
        total += sum(_tensor_bytes(info, dtype) for info in _header(path).values())
    return total


def _header(path: Path) -> dict[str, Any]:
    with path.open("rb") as data:
        prefix = data.read(8)
        size = struct.unpack("<Q", prefix)[0] if len(prefix) == 8 else -1
        if not 0 < size <= _MAX_HEADER:
            raise ConfigError(f"{path} is not a safetensors file")
        try:
            header: dict[str, Any] = json.loads(data.read(size))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{path} has a damaged safetensors header") from exc
    header.pop("__metadata__", None)
    return header


def _tensor_bytes(info: dict[str, Any], dtype: str | None) -> int:
    stored = info.get("dtype")
    if stored not in _ITEM_BYTES:
        raise ConfigError(f"a tensor of unknown dtype {stored!r} in a safetensors header")
    item = _LOAD_BYTES[dtype] if dtype and stored in _FLOATS else _ITEM_BYTES[stored]
    return math.prod(info.get("shape", [])) * item
