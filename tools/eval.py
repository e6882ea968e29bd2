"""Thin shim: ``accelerate launch tools/eval.py RECIPE --checkpoint DIR`` = ``mmlookup eval``."""
import sys

if __name__ == "__main__":
    from _venv import use_project_venv

    use_project_venv()  # the project's .venv when it exists
    from mmlookup.engine.cli import eval_main

    sys.exit(eval_main(sys.argv[1:]))
