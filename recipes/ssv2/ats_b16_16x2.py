"""ATS (adaptive token sampling) on the ViT-B/16 video backbone, budget 0.5 of the input tokens per sampling layer.
Something-Something v2, 16 frames by segment sampling, 224x224, fine-tuning recipe after VideoMAE ViT-B
(video_anchors.md §3a). No horizontal flip: it would swap "left to right" and "right to left" classes.

Command:   accelerate launch --multi_gpu --num_processes 8 -m mmlookup.train recipes/ssv2/ats_b16_16x2.py \
               --set model.pretrained=PATH/TO/PRETRAINED.pth --set data.root=PATH/TO/ssv2
           (tiny local check: mmlookup train recipes/ssv2/ats_b16_16x2.py:runlocal --set data.root=...)
Hardware:  8 GPUs (80 GB), bf16; per GPU batch 12 x accumulation 4 = global batch 384, as VideoMAE.
Test:      2 clips x 3 crops, short side 224.
Expected:  no published SSv2 number for ATS with this backbone; ViT-B at 70.8 is the upper reference.
"""
from mmlookup.config import Recipe, derive, sibling_recipe


def get_recipe(arg: str = "") -> Recipe:
    # everything but the encoder comes from the ViT-B recipe beside this file
    return derive(sibling_recipe(__file__, "vit_b16_16x2.py", arg), {
        "name": "ssv2_ats_b16_16x2",
        "train.output_dir": "runs/ssv2_ats_b16_16x2",
        "model.encoder": "ats_base",
        "model.encoder_kwargs": {"budget": 0.5},
    })
