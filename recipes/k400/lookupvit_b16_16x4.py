"""Spatio-temporal LookupViT-B/16: 8x14x14 lookup tokens, compressed grids 4x7x7 (default), 2x5x5 and 4x10x10
           (multi-resolution: one grid per training step; evaluation reports each).
Kinetics-400, 16 frames x interval 4, 224x224, fine-tuning recipe after VideoMAE ViT-B (video_anchors.md §3a).

Command:   accelerate launch --multi_gpu --num_processes 8 -m mmlookup.train recipes/k400/lookupvit_b16_16x4.py \
               --set model.pretrained=PATH/TO/PRETRAINED.pth --set data.root=PATH/TO/kinetics400
           (tiny local check: mmlookup train recipes/k400/lookupvit_b16_16x4.py:runlocal --set data.root=...)
Hardware:  8 GPUs (80 GB), bf16; per GPU batch 12 x accumulation 4 = global batch 384, as VideoMAE.
Test:      5 clips x 3 crops, short side 224.
Expected:  no published video number for LookupViT; its reference point is the ViT-B row (81.5 with VideoMAE
           pre-training). Report every compressed grid with `mmlookup eval` and its GFLOPs with `mmlookup bench`.
"""
from mmlookup.config import Recipe, derive, sibling_recipe


def get_recipe(arg: str = "") -> Recipe:
    # everything but the encoder comes from the ViT-B recipe beside this file
    return derive(sibling_recipe(__file__, "vit_b16_16x4.py", arg), {
        "name": "k400_lookupvit_b16_16x4",
        "train.output_dir": "runs/k400_lookupvit_b16_16x4",
        "model.encoder": "lookupvit_base",
        "model.grids": ((4, 7, 7), (2, 5, 5), (4, 10, 10)),  # one per training step; evaluation reports each
    })
