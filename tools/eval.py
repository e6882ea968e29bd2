"""Thin shim: ``accelerate launch tools/eval.py RECIPE --checkpoint DIR`` = ``mmlookup eval``."""
import sys

from mmlookup.engine.cli import eval_main

if __name__ == "__main__":
    sys.exit(eval_main(sys.argv[1:]))
