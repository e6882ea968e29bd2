"""Plain video ViT-nano on the synthetic motion videos.

A row of `mmlookup demo --all-encoders`, and the recipe EViT / ATS / ToMe (recipes beside this file) build on.

Command:   mmlookup train recipes/synthetic/vit.py   (`:quick`: ~1 minute)
Hardware:  2 CPU cores, fp32. Data, clip (8x32x32: 64 tubelet tokens + CLS), optimiser and schedule are those of
           recipes/synthetic/lookupvit.py.
Model:     the configuration issue 26's tuning protocol chose for the ViT (`mmlookup bench --accuracy --tune`, the
           same search LookupViT got; docs/benchmarks.md "Equal footing"): fixed per-axis sin-cos positions,
           PyTorch's layer init, no stem LayerNorm, the CLS head, LR 3e-4 with a 20% warm-up, clipping at 1.0.
           The recipe before it (timm's init and learned positions, no clipping) left the ViT family on the
           accuracy benchmark's plateau (19.0 +- 7.1% on motion16) and some demo seeds at chance.
Expected:  measured in docs/getting-started.md (the demo table); a single run on another machine may differ by a
           few of the 96 validation clips.
"""
from mmlookup.config import Recipe, derive, sibling_recipe

#: the ViT's from-scratch switches (the tuning protocol's choice); EViT / ATS / ToMe inherit them
TUNED = {"pos_embed": "sincos_3d", "stem_norm": False, "weight_init": "torch"}


def get_recipe(arg: str = "") -> Recipe:
    # data, clip, optimiser and schedule from the LookupViT demo recipe beside this file
    return derive(sibling_recipe(__file__, "lookupvit.py", arg), {
        "name": "synthetic_vit",
        "train.output_dir": "runs/synthetic_vit",
        "model.encoder": "vit_nano",
        "model.grids": (),
        "model.pool": "cls",
        "model.encoder_kwargs": dict(TUNED),
    })
