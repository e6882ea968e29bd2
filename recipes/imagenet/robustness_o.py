"""ImageNet-O evaluation of any ImageNet run: out-of-distribution detection by AUPR with the max-softmax detector.

Command:   mmlookup eval recipes/imagenet/robustness_o.py --checkpoint runs/imagenet_lookupvit_b16 \
               --set data.val_annotations=PATH/TO/imagenet-o --set eval.in_distribution=PATH/TO/imagenet/val
           (model section from the run's recipe.yaml; every LookupViT grid; RUN/eval_<checkpoint>_imagenet_o.json)
Protocol:  ImageNet-O (2,000 images of 200 ImageNet-22k classes outside ImageNet-1k, imagenet-o/<wnid>/*.jpg) are
           the positives with anomaly score -MSP (maximum softmax probability of the heads' averaged
           probabilities), the in-distribution set (ImageNet val, flat with LOC_val_solution.csv or class
           folders) the negatives, as in Hendrycks et al.; the headline AUPR's chance level is the fraction of
           ImageNet-O images (reported). Also reported: AUPR with ImageNet val as positives (score MSP), AUROC.
Hardware:  1 GPU (or a CPU, slowly): 2,000 + 50,000 images per grid.
Expected:  "up to 4%" over ViT across ImageNet-C/R/A/O (paper abstract; its table could not be read). Not measured.
"""
from mmlookup.config import Recipe, derive, sibling_recipe


def get_recipe(arg: str = "") -> Recipe:
    return derive(sibling_recipe(__file__, "lookupvit_b16.py", arg), {
        "name": "imagenet_o",
        "data.val_annotations": "data/imagenet-o",
        "eval.robustness": "imagenet_o",
        "eval.in_distribution": "data/imagenet/val",
    })
