"""`sam3-service models list | add | load | unload | promote | rollback | route`.

`add`, `promote`, `rollback` and `route` change the registry in SAM3_DATABASE_URL, which every
API replica reads within SAM3_ROUTING_POLL_S. `load` and `unload` act on a running server's
memory, so they call its admin API (`--url`, `--key`); so does `list --url`, which then also
shows the canary's and the shadow's live figures, kept in the server's memory.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from ..errors import Sam3Error
from ..settings import Settings
from .base import T, app, console, or_exit

if TYPE_CHECKING:
    from ..domain.model_routing import ModelRouter

models_app = typer.Typer(
    help="Model versions: register, load, route (canary, A/B, shadow), promote, roll back.",
    no_args_is_help=True,
)
app.add_typer(models_app, name="models")

ACTOR = "cli"
UrlOption = Annotated[
    str | None,
    typer.Option(envvar="SAM3_ADMIN_URL", help="The server's base URL, e.g. http://host:8000."),
]
KeyOption = Annotated[
    str, typer.Option(envvar="SAM3_ADMIN_KEY", help="An admin API key of that server.")
]


@models_app.command("list")
def models_list(
    url: UrlOption = None,
    key: KeyOption = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Versions, their state and traffic, the routing table and the newest events; with --url,
    from the server, with the canary's and the shadow's live figures."""
    if url:
        listing = _call_server(url, key, "GET", "/v1/admin/models")
    else:
        from ..domain import model_admin

        listing = _with_router(lambda hub: model_admin.registry_listing(hub))
    if as_json:
        typer.echo(json.dumps(listing, indent=2))
        return
    _print_listing(listing)


@models_app.command("add")
def models_add(
    source: Annotated[
        str, typer.Argument(help="A model folder, or a Hugging Face id cached here.")
    ],
) -> None:
    """Register a model; its version is its content (the same on every machine)."""
    from ..model_hub import describe, placement

    settings = Settings()
    device, dtype = placement(settings)
    model = or_exit(lambda: describe(source, settings, dtype=dtype, device=device))
    stored, created = _with_router(lambda hub: hub.registry.add(model, actor=ACTOR))
    said = "Registered" if created else "Already registered:"
    console.print(f"{said} [bold]{stored.version}[/] ({stored.name}, {stored.state.value})")
    typer.echo(stored.version)


@models_app.command("load")
def models_load(
    version: Annotated[str, typer.Argument()], url: UrlOption = None, key: KeyOption = ""
) -> None:
    """Load a registered version in the running server, beside the others."""
    shown = _call_server(_need_url(url), key, "POST", f"/v1/admin/models/{version}/load")
    console.print(f"{version}: {shown['state']}")


@models_app.command("unload")
def models_unload(
    version: Annotated[str, typer.Argument()], url: UrlOption = None, key: KeyOption = ""
) -> None:
    """Drain a version the routing table no longer names, and free it in the running server."""
    _call_server(_need_url(url), key, "POST", f"/v1/admin/models/{version}/unload")
    console.print(f"{version}: unloaded")


@models_app.command("promote")
def models_promote(version: Annotated[str, typer.Argument()]) -> None:
    """Make a ready version the stable one."""
    from ..domain import model_admin

    table = _with_router(lambda hub: model_admin.promote_version(hub, version, actor=ACTOR))
    console.print(f"Stable: [bold]{table.stable}[/] (routing revision {table.revision})")


@models_app.command("rollback")
def models_rollback(
    version: Annotated[str, typer.Argument()],
    reason: Annotated[str, typer.Option(help="Why, for the event log.")] = "",
) -> None:
    """Take a version out of the canary's place, the split and the shadow's place."""
    from ..domain import model_admin

    table = _with_router(
        lambda hub: model_admin.roll_back(hub, version, reason=reason, actor=ACTOR)
    )
    console.print(f"{version} withdrawn (routing revision {table.revision})")


@models_app.command("route")
def models_route(
    canary: Annotated[str | None, typer.Option(help="The canary version ('' clears it).")] = None,
    canary_percent: Annotated[float | None, typer.Option(min=0, max=100)] = None,
    split: Annotated[
        str | None, typer.Option(help="A/B split as VERSION=WEIGHT,VERSION=WEIGHT ('' clears).")
    ] = None,
    shadow: Annotated[str | None, typer.Option(help="The shadow version ('' clears it).")] = None,
    shadow_percent: Annotated[float | None, typer.Option(min=0, max=100)] = None,
) -> None:
    """Change the routing table: the options given change, the others stay."""
    from ..domain import model_admin

    changes = _route_changes(canary, canary_percent, split, shadow, shadow_percent)
    table = _with_router(lambda hub: model_admin.route(hub, changes, actor=ACTOR))
    console.print_json(json.dumps(model_admin.table_json(table)))


def _route_changes(
    canary: str | None,
    canary_percent: float | None,
    split: str | None,
    shadow: str | None,
    shadow_percent: float | None,
) -> dict[str, Any]:
    """The routing fields the options change; clearing a version clears its percentage."""
    changes: dict[str, Any] = {}
    for role, version, percent in (
        ("canary", canary, canary_percent),
        ("shadow", shadow, shadow_percent),
    ):
        if version is not None:
            changes[role] = version or None
        if percent is not None or version == "":
            changes[f"{role}_percent"] = percent or 0.0
    if split is not None:
        changes["split"] = [_weighted(part) for part in split.split(",") if part.strip()]
    return changes


def _weighted(part: str) -> tuple[str, float]:
    version, _, weight = part.strip().partition("=")
    try:
        return version, float(weight or 1)
    except ValueError:
        raise typer.BadParameter(f"--split takes VERSION=WEIGHT pairs, got {part!r}") from None


def _with_router(call: Callable[[ModelRouter], Awaitable[T]]) -> T:
    """Run `call` on the registry in SAM3_DATABASE_URL; exit 1 on our errors."""
    from ..domain.model_routing import ModelRouter
    from ..hub import open_model_registry

    async def run() -> T:
        registry = await open_model_registry(Settings().resolved_database_url)
        try:
            return await call(ModelRouter(registry))
        finally:
            await registry.aclose()

    return or_exit(lambda: asyncio.run(run()))


def _need_url(url: str | None) -> str:
    if not url:
        raise typer.BadParameter("give the server's --url (or SAM3_ADMIN_URL)")
    return url


def _call_server(url: str, key: str, method: str, path: str) -> dict[str, Any]:
    """Call the server's admin API; exit 1 with its message on an error."""
    import httpx

    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        response = httpx.request(method, url.rstrip("/") + path, headers=headers, timeout=300)
    except httpx.HTTPError as exc:
        console.print(f"[bold red]Error:[/] cannot reach {url}: {exc}")
        raise typer.Exit(1) from None
    body: dict[str, Any] = response.json() if response.content else {}
    if response.is_error:
        message = body.get("error", {}).get("message", response.text)
        return or_exit(lambda: _raise(f"{response.status_code}: {message}"))
    return body


def _raise(message: str) -> dict[str, Any]:
    raise Sam3Error(message)


def _print_listing(listing: dict[str, Any]) -> None:
    table = Table(box=box.SIMPLE_HEAD)
    for column in ("version", "name", "state", "traffic %", "promoted", "source"):
        table.add_column(column, overflow="fold")
    for model in listing["versions"]:
        table.add_row(
            model["version"],
            model["name"],
            model["state"],
            f"{model['traffic_percent']:g}",
            (model["promoted_at"] or "")[:16],
            model["source"],
        )
    out = Console()
    out.print(table)
    out.print_json(json.dumps({"routing": listing["routing"]}))
    for name in ("canary", "shadow"):
        if listing.get(name):
            out.print_json(json.dumps({name: listing[name]}))
    for event in listing["events"][:10]:
        out.print(
            f"{event['at'][:19]} {event['kind']:<11} {event['version'] or '-'} {event['reason']}"
        )
