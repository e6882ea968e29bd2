"""Spatio-temporal LookupViT-B/16: 8x14x14 lookup tokens, compressed grids 4x7x7 (default), 2x5x5 and 4x10x10
           (multi-resolution: one grid per training step; evaluation reports each).
Something-Something v2, 16 frames by segment sampling, 224x224, fine-tuning recipe after VideoMAE ViT-B
(video_anchors.md §3a). No horizontal flip: it would swap "left to right" and "right to left" classes.

Command:   accelerate launch --multi_gpu --num_processes 8 -m mmlookup.train recipes/ssv2/lookupvit_b16_16x2.py \
               --set model.pretrained=PATH/TO/PRETRAINED.pth --set data.root=PATH/TO/ssv2
           (tiny local check: mmlookup train recipes/ssv2/lookupvit_b16_16x2.py:runlocal --set data.root=...)
Hardware:  8 GPUs (80 GB), bf16; per GPU batch 12 x accumulation 4 = global batch 384, as VideoMAE.
Test:      2 clips x 3 crops, short side 224.
Expected:  no published video number for LookupViT; its reference point is ViT-B at 70.8 (VideoMAE pre-training).
"""
from mmlookup.config import Recipe, derive, sibling_recipe


def get_recipe(arg: str = "") -> Recipe:
    # everything but the encoder comes from the ViT-B recipe beside this file
    return derive(sibling_recipe(__file__, "vit_b16_16x2.py", arg), {
        "name": "ssv2_lookupvit_b16_16x2",
        "train.output_dir": "runs/ssv2_lookupvit_b16_16x2",
        "model.encoder": "lookupvit_base",
        "model.grids": ((4, 7, 7), (2, 5, 5), (4, 10, 10)),  # one per training step; evaluation reports each
    })
