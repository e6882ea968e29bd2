"""Same as `mmlookup bench --data` (data-loader throughput), kept for `python tools/bench_data.py ...`."""
import sys

if __name__ == "__main__":
    from _venv import use_project_venv

    use_project_venv()  # the project's .venv when it exists
    from mmlookup.bench.data import main

    sys.exit(main())
