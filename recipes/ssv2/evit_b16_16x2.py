"""EViT on the ViT-B/16 video backbone: keep rate 0.7 at layers 3, 6, 9 (inattentive tokens fused), with the
           keep-rate warm-up (1.0 for 5 epochs, then cosine down to 0.7 over 10).
Something-Something v2, 16 frames by segment sampling, 224x224, fine-tuning recipe after VideoMAE ViT-B
(video_anchors.md §3a). No horizontal flip: it would swap "left to right" and "right to left" classes.

Command:   accelerate launch --multi_gpu --num_processes 8 -m mmlookup.train recipes/ssv2/evit_b16_16x2.py \
               --set model.pretrained=PATH/TO/PRETRAINED.pth --set data.root=PATH/TO/ssv2
           (tiny local check: mmlookup train recipes/ssv2/evit_b16_16x2.py:runlocal --set data.root=...)
Hardware:  8 GPUs (80 GB), bf16; per GPU batch 12 x accumulation 4 = global batch 384, as VideoMAE.
Test:      2 clips x 3 crops, short side 224.
Expected:  no published SSv2 number for EViT on video; ViT-B at 70.8 is the upper reference.
"""
from mmlookup.config import Recipe, derive, sibling_recipe


def get_recipe(arg: str = "") -> Recipe:
    # everything but the encoder comes from the ViT-B recipe beside this file
    return derive(sibling_recipe(__file__, "vit_b16_16x2.py", arg), {
        "name": "ssv2_evit_b16_16x2",
        "train.output_dir": "runs/ssv2_evit_b16_16x2",
        "model.encoder": "evit_base",
        "model.keep_rate": 0.7,
        "train.keep_rate_warmup_epochs": 5.0,  # keep everything for 5 epochs, then cosine to 0.7 over 10
        "train.keep_rate_ramp_epochs": 10.0,
    })
