"""ImageNet-A evaluation of any ImageNet run: top-1 on 7,500 natural adversarial images of 200 classes.

Command:   mmlookup eval recipes/imagenet/robustness_a.py --checkpoint runs/imagenet_lookupvit_b16 \
               --set data.val_annotations=PATH/TO/imagenet-a --set data.root=PATH/TO/imagenet
           (model section from the run's recipe.yaml; every LookupViT grid; RUN/eval_<checkpoint>_imagenet_a.json)
Data:      imagenet-a/<wnid>/*.jpg; 200 wnids mapped onto the 1,000-class index, logits restricted to them (as
           robustness_r.py). Resize 256, centre crop 224.
Hardware:  1 GPU (or a CPU, slowly): 7,500 images per grid.
Expected:  "up to 4%" over ViT across ImageNet-C/R/A/O (paper abstract; its table could not be read). Not measured.
"""
from mmlookup.config import Recipe, derive, sibling_recipe


def get_recipe(arg: str = "") -> Recipe:
    return derive(sibling_recipe(__file__, "lookupvit_b16.py", arg), {
        "name": "imagenet_a",
        "data.val_annotations": "data/imagenet-a",
        "eval.robustness": "imagenet_a",
    })
