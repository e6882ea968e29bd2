"""ImageNet-R evaluation of any ImageNet run: top-1 on 30,000 renditions of 200 classes, logits restricted to them.

Command:   mmlookup eval recipes/imagenet/robustness_r.py --checkpoint runs/imagenet_lookupvit_b16 \
               --set data.val_annotations=PATH/TO/imagenet-r --set data.root=PATH/TO/imagenet
           (model section from the run's recipe.yaml; every LookupViT grid; RUN/eval_<checkpoint>_imagenet_r.json)
Data:      imagenet-r/<wnid>/*.jpg; the 200 wnids map onto the run's 1,000-class index (data.labels_file or the
           sorted class folders of data.root/train), and each head's logits are restricted to those 200 before
           the softmax. Resize 256, centre crop 224.
Hardware:  1 GPU (or a CPU, slowly): 30,000 images per grid.
Expected:  "up to 4%" over ViT across ImageNet-C/R/A/O (paper abstract; its table could not be read). Not measured.
"""
from mmlookup.config import Recipe, derive, sibling_recipe


def get_recipe(arg: str = "") -> Recipe:
    return derive(sibling_recipe(__file__, "lookupvit_b16.py", arg), {
        "name": "imagenet_r",
        "data.val_annotations": "data/imagenet-r",
        "eval.robustness": "imagenet_r",
    })
