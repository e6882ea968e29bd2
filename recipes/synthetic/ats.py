"""ATS-nano (adaptive token sampling, budget 0.5) on the synthetic motion videos.

A row of `mmlookup demo --all-encoders`.

Command:   mmlookup train recipes/synthetic/ats.py   (`:quick`: ~1 minute)
Hardware:  2 CPU cores, fp32. Data, clip (8x32x32: 64 tubelet tokens + CLS) and schedule are those of
           recipes/synthetic/lookupvit.py.
Expected:  78.1% top-1, 96.9% top-5 on the 96 validation clips (chance 12.5%),
           112 s train + eval on idle cores, seed 0;
           measured with the mean-pooled head used before issue 11 (to re-measure).
"""
from mmlookup.config import Recipe, derive, sibling_recipe


def get_recipe(arg: str = "") -> Recipe:
    # data, clip, optimiser and schedule from the LookupViT demo recipe beside this file
    return derive(sibling_recipe(__file__, "lookupvit.py", arg), {
        "name": "synthetic_ats",
        "train.output_dir": "runs/synthetic_ats",
        "model.encoder": "ats_nano",
        "model.encoder_kwargs": {"budget": 0.5},
        "model.grids": (),
    })
