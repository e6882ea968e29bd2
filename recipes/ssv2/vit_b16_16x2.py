"""Plain video ViT-B/16 (joint space-time attention over 2x16x16 tubelets).
Something-Something v2, 16 frames by segment sampling, 224x224, fine-tuning recipe after VideoMAE ViT-B
(video_anchors.md §3a). No horizontal flip: it would swap "left to right" and "right to left" classes.

Command:   accelerate launch --multi_gpu --num_processes 8 -m mmlookup.train recipes/ssv2/vit_b16_16x2.py \
               --set model.pretrained=PATH/TO/PRETRAINED.pth --set data.root=PATH/TO/ssv2
           (tiny local check: mmlookup train recipes/ssv2/vit_b16_16x2.py:runlocal --set data.root=...)
Hardware:  8 GPUs (80 GB), bf16; per GPU batch 12 x accumulation 4 = global batch 384, as VideoMAE.
Test:      2 clips x 3 crops, short side 224.
Expected:  70.8 top-1 / 92.4 top-5 for ViT-B with VideoMAE SSv2 pre-training (2400 epochs),
           180 GFLOPs x 2 x 3 views (MCG-NJU/VideoMAE MODEL_ZOO.md).
"""
from mmlookup.config import DataCfg, Recipe, derive, sibling_recipe


def get_recipe(arg: str = "") -> Recipe:
    # model, optimiser and loop from the K400 ViT-B recipe; SSv2's data, length and test views here
    changes = {"name": "ssv2_vit_b16_16x2", "train.output_dir": "runs/ssv2_vit_b16_16x2"}
    if arg != "runlocal":  # the runlocal variant keeps the base's tiny length and single view
        changes |= {"train.epochs": 30, "eval.num_clips": 2}
    recipe = derive(sibling_recipe(__file__, "../k400/vit_b16_16x4.py", arg), changes)
    recipe.data = DataCfg(format="ssv2", root="data/ssv2", train_annotations="train.json",
                          val_annotations="validation.json", labels_file="labels.json", frame_interval=2,
                          sampling="segment", short_side=224, rrc_scale=(0.08, 1.0), flip=False, randaugment=True)
    return recipe
