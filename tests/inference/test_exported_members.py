"""The package's public surface: `__all__` is exact, and the data types need no torch."""

from __future__ import annotations

import subprocess
import sys

import pytest

import sam3_service.inference as inference


def test_all_names_resolve() -> None:
    for name in inference.__all__:
        assert getattr(inference, name).__name__ == name


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError):
        _ = inference.NoSuchName  # type: ignore[attr-defined]


def test_data_types_import_without_torch() -> None:
    code = (
        "import sys; from sam3_service.inference import Prompt, Segmentation; "
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
