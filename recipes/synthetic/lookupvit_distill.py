"""LookupViT-nano distilled from the synthetic ViT run: initialised from the teacher's blocks, soft distillation.

Command:   mmlookup train synthetic/vit                                  (the teacher: runs/synthetic_vit)
           mmlookup train recipes/synthetic/lookupvit_distill.py        (`:quick` for the ~1 minute variant)
           another teacher run: --set distill.teacher=RUN
Hardware:  2 CPU cores, fp32. Data, clip (8x32x32, tubelet 2x8x8: 64 lookup tokens), compressed grids and schedule
           are those of recipes/synthetic/lookupvit.py; every step also runs the frozen teacher (ViT-nano) on the
           same clip.
Model:     model.init_from="teacher": the ViT's blocks become the compressed stream's refine blocks, its final norm
           the compressed stream's norm; cross-attention, the lookup MLP and both heads are new (the load report
           lists them). Loss per head: 0.5 CE(labels) + 0.5 tau^2 KL(teacher || student) at tau = 2.
Expected:  measured at this recipe's 600 steps (seeds 0 and 1, one thread; docs/tasks/distillation.md,
           `python tools/distill_table.py`): 88.5 / 77.1% top-1 at 2x2x2 against teachers of 80.2 / 71.9%,
           within 1 point of the teacher after 240 / 280 steps; initialisation without distillation gave
           86.5 / 80.2 (the soft targets do not measurably add at this scale).
"""
from mmlookup.config import Recipe, derive, sibling_recipe


def get_recipe(arg: str = "") -> Recipe:
    return derive(sibling_recipe(__file__, "lookupvit.py", arg), {
        "name": "synthetic_lookupvit_distill",
        "train.output_dir": "runs/synthetic_lookupvit_distill",
        "model.init_from": "teacher",
        # the paper's layout (learned position tables, timm init, two heads), so every ViT tensor has its place
        "model.encoder_kwargs": {"pos_init_std": 0.2},
        "model.pool": "auto",
        "distill.teacher": "runs/synthetic_vit",
        "distill.kind": "soft",
        "distill.alpha": 0.5,
        "distill.tau": 2.0,
    })
