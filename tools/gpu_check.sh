#!/usr/bin/env bash
# One-command GPU check: inference + training bench (ViT-B, LookupViT-B x3 grids, EViT-B, ATS-B; 16x224², bf16,
# MFU), 50 steps of the K400 LookupViT recipe on synthetic full-size videos, caption training steps.
# Writes one Markdown report (runs/gpu_check.md). Under 8 minutes on one H100/H200-class GPU.
#   tools/gpu_check.sh [--out FILE]     on a GPU node
#   tools/gpu_check.sh --dry-run        the same code at tiny sizes on CPU (CI runs this)
set -euo pipefail
cd "$(dirname "$0")/.."
# the project's .venv when it exists (a fresh shell has none activated), else python from PATH; PYTHON=... wins
if [ -z "${PYTHON:-}" ] && [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY="${PYTHON:-python}"; fi
exec env PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" "$PY" -m mmlookup.bench.gpu_check "$@"
