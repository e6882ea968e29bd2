"""Plain video ViT-nano on the synthetic motion dataset.

A comparison row of `mmlookup demo --all-encoders`.

Command:   mmlookup train recipes/synthetic/vit.py          (`:quick` for the ~1 minute variant)
Hardware:  2 CPU cores, fp32; a few minutes.
Data:      `mmlookup data synth data/synthetic` (made automatically when absent): 8 motion classes, 320 train /
           96 val clips, K400 CSV format.
Model:     8 frames (interval 4) x 32x32, tubelet 2x8x8 -> 64 patch tokens (+ CLS), the same clip and schedule
           as the LookupViT demo recipe (recipes/synthetic/lookupvit.py).
Expected:  top-1 well above the 12.5% chance level. Measured (`mmlookup demo --all-encoders`, idle 2 cores,
           seed 0): 74.0% top-1, 99.0% top-5 on the 96 validation clips, 141 s train + eval.
Flip is off: it would turn "left to right" into "right to left".
"""
from mmlookup.config import DataCfg, EvalCfg, ModelCfg, OptimCfg, Recipe, TrainCfg


def get_recipe(arg: str = "") -> Recipe:
    quick = arg == "quick"
    return Recipe(
        name="synthetic_vit",
        model=ModelCfg(encoder="vit_nano", num_frames=8, img_size=32, tubelet_size=2, patch_size=8,
                       drop_path_rate=0.0),
        data=DataCfg(format="k400", root="data/synthetic/k400", train_annotations="train.csv",
                     val_annotations="validate.csv", frame_interval=4, short_side=32, rrc_scale=(0.8, 1.0),
                     flip=False, synthetic=True),
        optim=OptimCfg(lr=5e-4, min_lr=1e-5, weight_decay=0.05, warmup_epochs=2.0),
        train=TrainCfg(epochs=12 if quick else 30, batch_size=16, num_workers=1, precision="no",
                       label_smoothing=0.1, clip_grad=1.0, output_dir="runs/synthetic_vit",
                       checkpoint_every=100, eval_every=0, log_every=5, keep_last=1),
        eval=EvalCfg(num_clips=1, num_crops=1, batch_size=32, num_workers=1),
    )
