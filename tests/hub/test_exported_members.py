"""The hub's public surface: `__all__` is exact and importing it stays light."""

from __future__ import annotations

import subprocess
import sys

import sam3_service.hub as hub


def test_all_names_resolve_to_what_they_name() -> None:
    for name in hub.__all__:
        member = getattr(hub, name)
        assert getattr(member, "__name__", name) == name


def test_all_lists_every_public_name() -> None:
    public = {n for n in vars(hub) if not n.startswith("_")}
    modules = {"agreement", "base", "budget", "rollback", "routing", "sql_registry", "annotations"}
    modules |= {"asyncio", "urlsplit", "ConfigError"}
    assert public - modules == set(hub.__all__)


def test_importing_it_loads_no_torch_nor_sqlalchemy() -> None:
    code = (
        "import sys, sam3_service.hub; "
        "assert not {'torch', 'sqlalchemy'} & set(sys.modules), sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
