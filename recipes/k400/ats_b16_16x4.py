"""ATS (adaptive token sampling) on the ViT-B/16 video backbone, budget 0.5 of the input tokens per sampling layer.
Kinetics-400, 16 frames x interval 4, 224x224, fine-tuning recipe after VideoMAE ViT-B (video_anchors.md §3a).

Command:   accelerate launch --multi_gpu --num_processes 8 -m mmlookup.train recipes/k400/ats_b16_16x4.py \
               --set model.pretrained=PATH/TO/PRETRAINED.pth --set data.root=PATH/TO/kinetics400
           (tiny local check: mmlookup train recipes/k400/ats_b16_16x4.py:runlocal --set data.root=...)
Hardware:  8 GPUs (80 GB), bf16; per GPU batch 12 x accumulation 4 = global batch 384, as VideoMAE.
Test:      5 clips x 3 crops, short side 224.
Expected:  no published K400 number for ATS with this backbone; the ViT-B row (81.5) is the upper reference.
"""
from mmlookup.config import Recipe, derive, sibling_recipe


def get_recipe(arg: str = "") -> Recipe:
    # everything but the encoder comes from the ViT-B recipe beside this file
    return derive(sibling_recipe(__file__, "vit_b16_16x4.py", arg), {
        "name": "k400_ats_b16_16x4",
        "train.output_dir": "runs/k400_ats_b16_16x4",
        "model.encoder": "ats_base",
        "model.encoder_kwargs": {"budget": 0.5},
    })
