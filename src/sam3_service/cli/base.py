"""What every command shares: the Typer app, the console, and turning our errors into exit 1."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import typer
from rich.console import Console

from ..errors import Sam3Error

app = typer.Typer(
    help="Serve Meta's SAM 3 for promptable segmentation of images.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
console = Console(stderr=True)
T = TypeVar("T")


def or_exit(fn: Callable[[], T]) -> T:
    """`fn()`, or exit 1 with its message on our errors."""
    try:
        return fn()
    except Sam3Error as exc:
        console.print(f"[bold red]Error:[/] {exc.message}")
        raise typer.Exit(1) from None
