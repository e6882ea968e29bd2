"""Same as `mmlookup bench` (kept for `python tools/bench.py ...`)."""
import sys

if __name__ == "__main__":
    from _venv import use_project_venv

    use_project_venv()  # the project's .venv when it exists
    from mmlookup.bench.cli import main

    sys.exit(main())
