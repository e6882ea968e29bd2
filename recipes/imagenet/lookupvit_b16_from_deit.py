"""LookupViT-B/16 on ImageNet-1k from a timm DeiT-B / ViT-B classifier: compressed stream initialised from the
teacher's blocks, then DeiT's hard-label distillation from it (the teacher frozen, in bf16 like the student).

The teacher is a timm state-dict file (`deit_base_patch16_224` or `vit_base_patch16_224`, saved with
`torch.save(model.state_dict(), PATH)` on a connected machine); its encoder is named by distill.teacher_encoder
(vit_base) because a state dict carries no config. Its 1000-class head is imported with it. Everything else is
recipes/imagenet/lookupvit_b16.py (image mode T = 1, grids 1x7x7 / 3x3 / 5x5 / 10x10).

Command:   accelerate launch --multi_gpu --num_processes 8 -m mmlookup.train \
               recipes/imagenet/lookupvit_b16_from_deit.py \
               --set distill.teacher=PATH/TO/deit_base_patch16_224.pth --set data.root=PATH/TO/imagenet
Hardware:  8 GPUs (80 GB), bf16, global batch 1024.
Expected:  not measured here (no ImageNet, no GPU). Anchors: DeiT-B 81.8 top-1 (its paper; 83.4 with hard
           distillation from a RegNetY-16GF teacher, the gain this recipe's hard distillation aims at).
"""
from mmlookup.config import Recipe, derive, sibling_recipe


def get_recipe(arg: str = "") -> Recipe:
    return derive(sibling_recipe(__file__, "lookupvit_b16.py", arg), {
        "name": "imagenet_lookupvit_b16_from_deit",
        "train.output_dir": "runs/imagenet_lookupvit_b16_from_deit" + ("_runlocal" if arg == "runlocal" else ""),
        "model.init_from": "teacher",
        "distill.teacher": "PATH/TO/deit_base_patch16_224.pth",
        "distill.teacher_encoder": "vit_base",
        "distill.kind": "hard",
        "distill.alpha": 0.5,
    })
