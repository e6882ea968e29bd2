"""Same as `mmlookup bench --data` (data-loader throughput), kept for `python tools/bench_data.py ...`."""
import sys

from mmlookup.bench.data import main

if __name__ == "__main__":
    sys.exit(main())
