"""Thin shim for launchers that want a script path: ``accelerate launch tools/train.py RECIPE [--set k=v ...]``.

Identical to ``mmlookup train`` / ``python -m mmlookup.train``; the logic lives in ``mmlookup.engine``.
"""
import sys

from mmlookup.engine.cli import train_main

if __name__ == "__main__":
    sys.exit(train_main(sys.argv[1:]))
