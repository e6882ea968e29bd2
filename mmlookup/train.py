"""Entry point for launchers: ``accelerate launch -m mmlookup.train RECIPE [--set k=v ...]``.

Same arguments as ``mmlookup train``. Multi-GPU: ``accelerate launch --multi_gpu --num_processes 8 -m
mmlookup.train recipes/k400/lookupvit_b16_16x4.py``. Several CPU processes (gloo): ``torchrun
--nproc_per_node 2 -m mmlookup.train recipes/synthetic/lookupvit.py`` (``accelerate launch --cpu
--num_processes 2`` starts only one process).
"""
import sys

from mmlookup.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
