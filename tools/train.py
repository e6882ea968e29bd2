"""Thin shim for launchers that want a script path: ``accelerate launch tools/train.py RECIPE [--set k=v ...]``.

Identical to ``mmlookup train`` / ``python -m mmlookup.train``; the logic lives in ``mmlookup.engine``.
"""
import sys

if __name__ == "__main__":
    from _venv import use_project_venv

    use_project_venv()  # the project's .venv when it exists
    from mmlookup.engine.cli import train_main

    sys.exit(train_main(sys.argv[1:]))
