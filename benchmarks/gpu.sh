#!/usr/bin/env bash
# Issue #13's figures as one JSON object: benchmarks/gpu.sh [--size full|mid] [gpu.py options].
#
# Runs with, in this order: ./.venv if it exists; else python3 plus the wheels in ./.whl
# (installed offline into /tmp/sam3-site, for a machine that cannot reach PyPI); else python3
# after `pip install -e .`. To prepare the wheels on a machine that can reach PyPI (the GPU
# machine has torch, transformers and numpy already; Python 3.12, x86-64):
#
#   benchmarks/gpu.sh --download-wheels
set -euo pipefail
cd "$(dirname "$0")/.."

# What the GPU image lacks of what gpu.py imports (file:// storage, SQLite, no broker there),
# at the versions installed here.
WHEELS=(fastapi starlette uvicorn python-multipart pydantic pydantic-core pydantic-settings
  python-dotenv annotated-types typing-inspection sqlalchemy alembic mako av pycocotools
  transformers)

if [[ "${1:-}" == "--download-wheels" ]]; then
  # .whl/ is in .gitignore: the device tool carries it when a run names it in `carry`.
  for name in "${WHEELS[@]}"; do
    version=$(.venv/bin/python -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$name")
    .venv/bin/python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
      --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
      --platform manylinux2014_x86_64 -d .whl "$name==$version"
  done
  du -sh .whl
  exit 0
fi

if [[ -x .venv/bin/python ]]; then
  PYTHON=.venv/bin/python
else
  PYTHON=python3
  if ! "$PYTHON" -c "import fastapi, sqlalchemy, celery" 2>/dev/null; then
    if [[ -d .whl ]]; then
      "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --target /tmp/sam3-site .whl/*.whl
      export PYTHONPATH="/tmp/sam3-site:${PYTHONPATH:-}"
    else
      "$PYTHON" -m pip install -q -e .
    fi
  fi
fi
export PYTHONPATH="$PWD/src:${PYTHONPATH:-}" PYTHONUNBUFFERED=1
# The goal is 8 minutes on an H200; the figures measured so far go to stderr as they come.
timeout "${BENCH_TIMEOUT_S:-480}" "$PYTHON" benchmarks/gpu.py "$@" || {
  status=$?
  [[ $status == 124 ]] && echo "gpu.sh: stopped after ${BENCH_TIMEOUT_S:-480} s (BENCH_TIMEOUT_S)" >&2
  exit $status
}
