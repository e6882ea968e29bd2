#!/usr/bin/env bash
# Create .venv with mmlookup and every extra, pinned by requirements/constraints.txt. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=.venv/.mmlookup-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ requirements/constraints.txt -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q -c requirements/constraints.txt -e ".[all]"
  touch "$stamp"
fi
