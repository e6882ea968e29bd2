"""Same as `mmlookup bench` (kept for `python tools/bench.py ...`)."""
import sys

from mmlookup.bench.cli import main

if __name__ == "__main__":
    sys.exit(main())
