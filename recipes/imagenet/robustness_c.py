"""ImageNet-C evaluation of any ImageNet run: top-1 per corruption and severity, per corruption, mean top-1 error.

Command:   mmlookup eval recipes/imagenet/robustness_c.py --checkpoint runs/imagenet_lookupvit_b16 \
               --set data.val_annotations=PATH/TO/imagenet-c --set data.root=PATH/TO/imagenet
           (the model section comes from the run's recipe.yaml, so ViT and LookupViT runs both work; LookupViT is
           scored at every compressed grid; report: RUN/eval_<checkpoint>_imagenet_c.json)
Data:      imagenet-c/<corruption>/<1..5>/<wnid>/*.JPEG (15 corruptions x 5 severities x 50,000 images; the 4
           extra ones work too). Class index: data.labels_file or the sorted class folders of data.root/train.
           The images are 224x224 centre crops already: resize to 224 (a no-op), centre crop 224.
Hardware:  1 GPU, ~3.75 M images per grid.
Metric:    mCE needs AlexNet's errors per corruption, which are not in this project's reference notes, so the
           report gives the mean top-1 error over all corruptions and severities instead (not normalised).
Expected:  the paper claims LookupViT is "up to 4%" better than ViT across ImageNet-C/R/A/O (abstract; its table
           could not be read, reference/lookupvit.md §7). Not measured here.
"""
from mmlookup.config import Recipe, derive, sibling_recipe


def get_recipe(arg: str = "") -> Recipe:
    return derive(sibling_recipe(__file__, "lookupvit_b16.py", arg), {
        "name": "imagenet_c",
        "data.val_annotations": "data/imagenet-c",
        "data.short_side": 224,
        "eval.robustness": "imagenet_c",
    })
