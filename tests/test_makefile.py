"""`make serve`'s first run says what it does: each step, and pip's own progress."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_venv_recipe_shows_each_step_and_pips_progress(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    dry = subprocess.run(
        ["make", "-n", "-B", f"{venv}/.installed", f"VENV={venv}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.splitlines()
    steps = [line for line in dry if line.startswith("echo")]
    assert [s.split("]")[0] for s in steps if "/4]" in s] == [
        f'echo "==> [{n}/4' for n in range(1, 5)
    ]
    installs = [line for line in dry if " install " in line]
    assert len(installs) == 3
    assert all("-q" not in line.split() and "--progress-bar on" in line for line in installs)
    assert any(f"{venv}/bin/sam3-service" in line for line in steps)
