"""EViT on the ViT-B/16 video backbone: keep rate 0.7 at layers 3, 6, 9 (inattentive tokens fused), with the
           keep-rate warm-up (1.0 for 5 epochs, then cosine down to 0.7 over 10).
Kinetics-400, 16 frames x interval 4, 224x224, fine-tuning recipe after VideoMAE ViT-B (video_anchors.md §3a).

Command:   accelerate launch --multi_gpu --num_processes 8 -m mmlookup.train recipes/k400/evit_b16_16x4.py \
               --set model.pretrained=PATH/TO/PRETRAINED.pth --set data.root=PATH/TO/kinetics400
           (tiny local check: mmlookup train recipes/k400/evit_b16_16x4.py:runlocal --set data.root=...)
Hardware:  8 GPUs (80 GB), bf16; per GPU batch 12 x accumulation 4 = global batch 384, as VideoMAE.
Test:      5 clips x 3 crops, short side 224.
Expected:  no published K400 number for EViT on video; the ViT-B row (81.5) is the upper reference, and the
           image results (EViT-DeiT-S, keep rate 0.7) lose ~0.3 top-1 for ~35% fewer FLOPs [recalled].
"""
from mmlookup.config import Recipe, derive, sibling_recipe


def get_recipe(arg: str = "") -> Recipe:
    # everything but the encoder comes from the ViT-B recipe beside this file
    return derive(sibling_recipe(__file__, "vit_b16_16x4.py", arg), {
        "name": "k400_evit_b16_16x4",
        "train.output_dir": "runs/k400_evit_b16_16x4",
        "model.encoder": "evit_base",
        "model.keep_rate": 0.7,
        "train.keep_rate_warmup_epochs": 5.0,  # keep everything for 5 epochs, then cosine to 0.7 over 10
        "train.keep_rate_ramp_epochs": 10.0,
    })
