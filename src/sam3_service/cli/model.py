"""`sam3-service build-tiny-model`: a random SAM 3 for development and tests."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .base import app, console


@app.command("build-tiny-model")
def build_tiny_model_command(
    folder: Annotated[Path, typer.Argument(help="Where to write the model.")],
    size: Annotated[str, typer.Option(help="tiny | mid | full")] = "tiny",
    seed: Annotated[int, typer.Option(help="Random seed of the weights.")] = 0,
) -> None:
    """Write a randomly initialised SAM 3 (weights, config, processor, tokenizer) to FOLDER,
    loadable with SAM3_MODEL=FOLDER. For development and tests: its masks are meaningless."""
    from ..inference import build_tiny_model

    with console.status(f"Building a {size} random SAM 3..."):
        path = build_tiny_model(folder, size=size, seed=seed)  # type: ignore[arg-type]
    console.print(f"Wrote {path}. Serve it with: SAM3_MODEL={path} sam3-service serve")
