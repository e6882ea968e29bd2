"""ToMe (token merging) on the ViT-B/16 video backbone: r = 88 merges per layer (1569 -> 513 tokens over 12 layers,
           112.7 GMACs per view, matched to EViT at keep rate 0.7), proportional attention, fine-tuned with merging on.
Kinetics-400, 16 frames x interval 4, 224x224, fine-tuning recipe after VideoMAE ViT-B (video_anchors.md §3a).

Command:   accelerate launch --multi_gpu --num_processes 8 -m mmlookup.train recipes/k400/tome_b16_16x4.py \
               --set model.pretrained=PATH/TO/PRETRAINED.pth --set data.root=PATH/TO/kinetics400
           (tiny local check: mmlookup train recipes/k400/tome_b16_16x4.py:runlocal --set data.root=...)
           Training-free instead: `mmlookup sweep` a trained ViT-B run with --encoders tome.
Hardware:  8 GPUs (80 GB), bf16; per GPU batch 12 x accumulation 4 = global batch 384, as VideoMAE.
Test:      5 clips x 3 crops, short side 224.
Expected:  no published K400 number for ToMe on ViT-B; the ToMe paper reports K400 on a spatiotemporal-MAE ViT-L
           (r = 65: about 2x the throughput for a few tenths of a point [recalled]); the ViT-B row (81.5) is the
           upper reference.
"""
from mmlookup.config import Recipe, derive, sibling_recipe


def get_recipe(arg: str = "") -> Recipe:
    # everything but the encoder comes from the ViT-B recipe beside this file
    return derive(sibling_recipe(__file__, "vit_b16_16x4.py", arg), {
        "name": "k400_tome_b16_16x4",
        "train.output_dir": "runs/k400_tome_b16_16x4",
        "model.encoder": "tome_base",
        "model.encoder_kwargs": {"r": 88},
    })
