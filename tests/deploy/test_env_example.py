"""deploy/.env.example lists exactly the Settings' variables, as deploy/env_example.py writes it,
and every value that compose.yaml requires."""

from __future__ import annotations

import re
import runpy

from tests.deploy.files import DEPLOY, read, settings_variables

REGENERATE = "regenerate it: .venv/bin/python deploy/env_example.py"


def listed(text: str) -> dict[str, bool]:
    """Each variable of an env file, and whether it is set (not commented out)."""
    found = re.findall(r"^(#\s)?([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE)
    return {name: not comment for comment, name in found}


def test_it_is_what_the_generator_writes() -> None:
    generator = runpy.run_path(str(DEPLOY / "env_example.py"))
    assert read(".env.example") == generator["render"](), REGENERATE


def test_it_lists_every_settings_variable_and_no_other() -> None:
    names = {name for name in listed(read(".env.example")) if name.startswith("SAM3_")}
    assert names == settings_variables(), REGENERATE


def test_it_sets_every_variable_that_compose_requires() -> None:
    required = set(re.findall(r"\$\{(\w+):\?", read("compose.yaml")))
    variables = listed(read(".env.example"))
    assert required, "compose.yaml requires no value: the passwords would have defaults"
    assert {name for name in required if not variables.get(name)} == set()
