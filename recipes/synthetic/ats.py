"""ATS-nano (adaptive token sampling, budget 0.5) on the synthetic motion videos.

A row of `mmlookup demo --all-encoders`.

Command:   mmlookup train recipes/synthetic/ats.py   (`:quick`: ~1 minute)
Hardware:  2 CPU cores, fp32. Data, clip (8x32x32: 64 tubelet tokens + CLS), optimiser, schedule and the ViT's
           switches are those of recipes/synthetic/vit.py (the ViT it is built on, CLS head).
Tuning:    it takes the configuration issue 26's protocol chose for the ViT; its own search (the same L8 trials:
           `mmlookup bench --accuracy --tune --families ats`) has not been run yet. The recipe before it (timm's
           init, learned positions, no clipping) left it on the accuracy benchmark's plateau.
Expected:  measured in docs/getting-started.md (the demo table); a single run on another machine may differ by a
           few of the 96 validation clips.
"""
from mmlookup.config import Recipe, derive, sibling_recipe


def get_recipe(arg: str = "") -> Recipe:
    base = sibling_recipe(__file__, "vit.py", arg)  # the tuned ViT: data, clip, optimiser, schedule, switches
    return derive(base, {
        "name": "synthetic_ats",
        "train.output_dir": "runs/synthetic_ats",
        "model.encoder": "ats_nano",
        "model.encoder_kwargs": {**base.model.encoder_kwargs, "budget": 0.5},
    })
