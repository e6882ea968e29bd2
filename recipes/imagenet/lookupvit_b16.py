"""LookupViT-B/16 on ImageNet-1k, image mode (T = 1, 224x224): 14x14 = 196 lookup tokens; compressed grids 1x3x3,
1x5x5, 1x7x7 and 1x10x10 trained jointly (one grid sampled per step), two heads (compressed and lookup, loss =
sum of both cross-entropies, inference averages their probabilities); evaluation reports every grid.
Everything else is the ViT-B recipe beside it (mmlookup.config.derive); `:in21k` starts the compressed stream from
imported ImageNet-21k ViT-B/16 weights (the cross-attention and the D/2 lookup MLP start new).

Command:   accelerate launch --multi_gpu --num_processes 8 -m mmlookup.train recipes/imagenet/lookupvit_b16.py \
               --set data.root=PATH/TO/imagenet
           mmlookup eval recipes/imagenet/lookupvit_b16.py --checkpoint runs/imagenet_lookupvit_b16
           (tiny local check: mmlookup train recipes/imagenet/lookupvit_b16.py:runlocal --set data.root=...)
Hardware:  8 GPUs (80 GB), bf16, global batch 1024 (as the ViT-B recipe).
Expected:  the paper (arXiv 2407.12753) reports ImageNet-1K from scratch and ImageNet-21K results with "2x fewer
           FLOPs" at matched or better accuracy and "up to 4%" more robustness than ViT on ImageNet-C/R/A/O; its
           tables could not be read (reference/lookupvit.md §7), so no per-grid figure is quoted. GMACs from the
           cost formula (reference/lookupvit.md §6.2, not the paper's table): 6.67 / 8.47 / 11.18 / 17.01 at
           3x3 / 5x5 / 7x7 / 10x10 vs 17.5 for ViT-B/16. Not measured here (no ImageNet, no GPU).
Frozen encoder for COCO captioning: recipes/coco/caption_lookupvit_frozen.py reads runs/imagenet_lookupvit_b16.
"""
from mmlookup.config import Recipe, derive, sibling_recipe


def get_recipe(arg: str = "") -> Recipe:
    suffix = "_in21k" if arg == "in21k" else ""
    return derive(sibling_recipe(__file__, "vit_b16.py", arg), {
        "name": f"imagenet_lookupvit_b16{suffix}",
        "train.output_dir": f"runs/imagenet_lookupvit_b16{suffix}" + ("_runlocal" if arg == "runlocal" else ""),
        "model.encoder": "lookupvit_base",
        "model.grids": ((1, 7, 7), (1, 3, 3), (1, 5, 5), (1, 10, 10)),  # first = the default (and COCO's memory)
    })
