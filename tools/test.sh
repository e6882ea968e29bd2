#!/usr/bin/env bash
# Set up a virtual environment (once) and run the test suite: the README's test command.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
exec .venv/bin/python -m pytest -q -m "not slow" "$@"
