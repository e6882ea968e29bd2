"""ToMe (token merging) on the ViT-B/16 video backbone: r = 88 merges per layer (1569 -> 513 tokens over 12 layers,
           112.7 GMACs per view, matched to EViT at keep rate 0.7), proportional attention, fine-tuned with merging on.
Something-Something v2, 16 frames by segment sampling, 224x224, fine-tuning recipe after VideoMAE ViT-B
(video_anchors.md §3a). No horizontal flip: it would swap "left to right" and "right to left" classes.

Command:   accelerate launch --multi_gpu --num_processes 8 -m mmlookup.train recipes/ssv2/tome_b16_16x2.py \
               --set model.pretrained=PATH/TO/PRETRAINED.pth --set data.root=PATH/TO/ssv2
           (tiny local check: mmlookup train recipes/ssv2/tome_b16_16x2.py:runlocal --set data.root=...)
Hardware:  8 GPUs (80 GB), bf16; per GPU batch 12 x accumulation 4 = global batch 384, as VideoMAE.
Test:      2 clips x 3 crops, short side 224.
Expected:  no published SSv2 number for ToMe; ViT-B at 70.8 is the upper reference. A third-party training-free
           study (Pollard & Wray, CVPR-W 2025) lost 3.5 points on SSv2 with VideoMAE-B at r = 150: merging costs
           more on motion-heavy SSv2 than on K400.
"""
from mmlookup.config import Recipe, derive, sibling_recipe


def get_recipe(arg: str = "") -> Recipe:
    # everything but the encoder comes from the ViT-B recipe beside this file
    return derive(sibling_recipe(__file__, "vit_b16_16x2.py", arg), {
        "name": "ssv2_tome_b16_16x2",
        "train.output_dir": "runs/ssv2_tome_b16_16x2",
        "model.encoder": "tome_base",
        "model.encoder_kwargs": {"r": 88},
    })
