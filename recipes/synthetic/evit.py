"""EViT-nano (keep rate 0.7 at layers 3, 6, 9 after a keep-rate warm-up) on the synthetic motion videos.

A row of `mmlookup demo --all-encoders`.

Command:   mmlookup train recipes/synthetic/evit.py   (`:quick`: ~1 minute)
Hardware:  2 CPU cores, fp32. Data, clip (8x32x32: 64 tubelet tokens + CLS) and schedule are those of
           recipes/synthetic/lookupvit.py.
Expected:  77.1% top-1, 99.0% top-5 on the 96 validation clips (chance 12.5%),
           136 s train + eval on idle cores, seed 0;
           measured with the mean-pooled head used before issue 11 (to re-measure).
"""
from mmlookup.config import Recipe, derive, sibling_recipe


def get_recipe(arg: str = "") -> Recipe:
    # data, clip, optimiser and schedule from the LookupViT demo recipe beside this file
    return derive(sibling_recipe(__file__, "lookupvit.py", arg), {
        "name": "synthetic_evit",
        "train.output_dir": "runs/synthetic_evit",
        "model.encoder": "evit_nano",
        "model.keep_rate": 0.7,
        "train.keep_rate_warmup_epochs": 5.0,  # keep everything for 5 epochs, then cosine to 0.7 over 10
        "train.keep_rate_ramp_epochs": 10.0,
        "model.grids": (),
    })
