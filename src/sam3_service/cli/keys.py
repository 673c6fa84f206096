"""`sam3-service keys create | list | revoke`: API keys in SAM3_DATABASE_URL."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from ..auth import Scope
from ..settings import Settings
from .base import T, app, console, or_exit

if TYPE_CHECKING:
    from ..auth import ApiKey, KeyStore

keys_app = typer.Typer(
    help="Make, list and revoke API keys (kept in SAM3_DATABASE_URL, shared with the API).",
    no_args_is_help=True,
)
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def keys_create(
    scope: Annotated[
        Scope, typer.Option(help="user: its owner's tasks; admin: every task and the keys.")
    ],
    owner: Annotated[
        str | None, typer.Option(help="Owner of the tasks made with it (default: the key's id).")
    ] = None,
    rate: Annotated[
        str | None,
        typer.Option(help="Requests per minute, as N or N/min (SAM3_DEFAULT_RATE_PER_MIN)."),
    ] = None,
) -> None:
    """Make an API key and print it on stdout: it is shown only this once."""
    per_min = _parse_rate(rate)
    new = _with_keys(lambda keys: keys.create(scope=scope, owner=owner, rate_per_min=per_min))
    console.print(
        f"Made {new.key.scope.value} key [bold]{new.key.id}[/] for [cyan]{new.key.owner}[/] "
        f"({new.key.rate_per_min} requests/min). Keep it now; it cannot be shown again:"
    )
    typer.echo(new.secret)


@keys_app.command("list")
def keys_list(
    include_revoked: Annotated[bool, typer.Option("--all", help="Also list revoked keys.")] = False,
) -> None:
    """List the API keys (never their secrets)."""
    listed = _with_keys(lambda keys: keys.list(include_revoked=include_revoked))
    table = Table(box=box.SIMPLE_HEAD)
    for column in ("id", "owner", "scope", "rate/min", "created", "revoked"):
        table.add_column(column, no_wrap=column != "owner", overflow="fold")
    for key in listed:
        table.add_row(
            key.id,
            key.owner,
            key.scope.value,
            str(key.rate_per_min),
            f"{key.created_at:%Y-%m-%d %H:%M}",
            f"{key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "",
        )
    Console().print(table)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (see `keys list`).")],
) -> None:
    """Revoke an API key: every API process refuses it from its next request."""
    key: ApiKey = _with_keys(lambda keys: keys.revoke(key_id))
    console.print(f"Revoked key [bold]{key.id}[/] of [cyan]{key.owner}[/].")


def _with_keys(call: Callable[[KeyStore], Awaitable[T]]) -> T:
    """Run `call` on the key store of SAM3_DATABASE_URL; exit 1 on our errors."""
    from ..runtime import open_keys

    settings = Settings()
    console.print(f"Key database: {_database_label(settings)}", soft_wrap=True, markup=False)

    async def run() -> T:
        async with open_keys(settings) as keys:
            return await call(keys)

    return or_exit(lambda: asyncio.run(run()))


def _database_label(settings: Settings) -> str:
    """The database URL that `keys` commands use, its password hidden, and where it comes from:
    a server only sees keys made in its own database."""
    from sqlalchemy.engine import make_url

    url = make_url(settings.resolved_database_url).render_as_string(hide_password=True)
    origin = "SAM3_DATABASE_URL" if settings.database_url else "SAM3_DATA_DIR/sam3.db"
    return f"{url} (from {origin})"


def _parse_rate(text: str | None) -> int | None:
    if text is None:
        return None
    number = text.strip().lower().removesuffix("/min").strip()
    if not number.isdigit() or int(number) < 1:
        raise typer.BadParameter(f"--rate takes N or N/min with N >= 1, got {text!r}")
    return int(number)
