"""ToMe-nano (token merging, r = 8 merges per layer: 65 -> 57 -> 49 -> 41 -> 33 tokens) on the synthetic motion videos.

A row of `mmlookup demo --all-encoders`.

Command:   mmlookup train recipes/synthetic/tome.py   (`:quick`: ~1 minute)
Hardware:  2 CPU cores, fp32. Data, clip (8x32x32: 64 tubelet tokens + CLS) and schedule are those of
           recipes/synthetic/lookupvit.py. Mean-pooled head (size-weighted: each merged token counts for the tokens it
           holds): the synthetic ViT recipe with a CLS-pooled head stayed at 13.5% top-1 after these 600 steps.
Expected:  75.0% top-1, 99.0% top-5 on the 96 validation clips (chance 12.5%), 0.044 GMACs/view (ViT 0.059),
           7.5 min train + eval with OMP_NUM_THREADS=1 on heavily shared cores (load ~20), seed 0.
"""
from mmlookup.config import Recipe, derive, sibling_recipe


def get_recipe(arg: str = "") -> Recipe:
    # data, clip, optimiser and schedule from the LookupViT demo recipe beside this file
    return derive(sibling_recipe(__file__, "lookupvit.py", arg), {
        "name": "synthetic_tome",
        "train.output_dir": "runs/synthetic_tome",
        "model.encoder": "tome_nano",
        "model.encoder_kwargs": {"r": 8},
        "model.pool": "mean",
        "model.grids": (),
    })
