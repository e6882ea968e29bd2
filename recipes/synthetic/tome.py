"""ToMe-nano (token merging, r = 8 merges per layer: 65 -> 57 -> 49 -> 41 -> 33 tokens) on the synthetic motion videos.

A row of `mmlookup demo --all-encoders`.

Command:   mmlookup train recipes/synthetic/tome.py   (`:quick`: ~1 minute)
Hardware:  2 CPU cores, fp32. Data, clip (8x32x32: 64 tubelet tokens + CLS) and schedule are those of
           recipes/synthetic/lookupvit.py.
Expected:  MEASURED_PLACEHOLDER
"""
from mmlookup.config import Recipe, derive, sibling_recipe


def get_recipe(arg: str = "") -> Recipe:
    # data, clip, optimiser and schedule from the LookupViT demo recipe beside this file
    return derive(sibling_recipe(__file__, "lookupvit.py", arg), {
        "name": "synthetic_tome",
        "train.output_dir": "runs/synthetic_tome",
        "model.encoder": "tome_nano",
        "model.encoder_kwargs": {"r": 8},
        "model.grids": (),
    })
