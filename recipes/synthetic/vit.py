"""Plain video ViT-nano on the synthetic motion videos.

A row of `mmlookup demo --all-encoders`.

Command:   mmlookup train recipes/synthetic/vit.py   (`:quick`: ~1 minute)
Hardware:  2 CPU cores, fp32. Data, clip (8x32x32: 64 tubelet tokens + CLS) and schedule are those of
           recipes/synthetic/lookupvit.py.
Expected:  74.0% top-1, 99.0% top-5 on the 96 validation clips (chance 12.5%),
           141 s train + eval on idle cores, seed 0;
           measured with the mean-pooled head used before issue 11 (to re-measure).
"""
from mmlookup.config import Recipe, derive, sibling_recipe


def get_recipe(arg: str = "") -> Recipe:
    # data, clip, optimiser and schedule from the LookupViT demo recipe beside this file
    return derive(sibling_recipe(__file__, "lookupvit.py", arg), {
        "name": "synthetic_vit",
        "train.output_dir": "runs/synthetic_vit",
        "model.encoder": "vit_nano",
        "model.grids": (),
    })
