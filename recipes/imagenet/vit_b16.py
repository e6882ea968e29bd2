"""ViT-B/16 on ImageNet-1k, image mode: each image is a one-frame clip (T = 1, tubelet 1x16x16 = a 2-D patch
embedding), 224x224, 14x14 = 196 patch tokens + CLS. DeiT-B-style training from scratch (the paper's ImageNet-1K
setting); `:in21k` fine-tunes imported ImageNet-21k ViT-B/16 weights instead (model.pretrained).

Command:   accelerate launch --multi_gpu --num_processes 8 -m mmlookup.train recipes/imagenet/vit_b16.py \
               --set data.root=PATH/TO/imagenet
           accelerate launch ... recipes/imagenet/vit_b16.py:in21k --set model.pretrained=PATH/TO/vit_b16_in21k.pth
               (torchvision / timm / Hugging Face ViT-B/16 weights; mmlookup.checkpoints maps them)
           (tiny local check: mmlookup train recipes/imagenet/vit_b16.py:runlocal --set data.root=...)
Data:      data.root/train/<wnid>/*.JPEG; data.root/val either as class folders or flat with LOC_val_solution.csv
           in it or up to four folders above (the Kaggle layout). Class index = sorted wnids of train/.
Hardware:  8 GPUs (80 GB), bf16; per GPU batch 128 = global batch 1024 (lr 5e-4 per 512, scaled).
Augment:   random resized crop 224 (scale 0.08-1), flip, RandAugment n=2 m=9, mixup 0.8 / cutmix 1.0, label
           smoothing 0.1, drop path 0.1 (DeiT; its random erasing and repeated augmentation are not implemented).
Test:      resize the short side to 256, centre crop 224, one view.
Expected:  DeiT-B 81.8% top-1 at 17.6 GMACs (300 epochs from scratch, reference/token_reduction.md §6.1); the
           LookupViT paper's ViT-B ImageNet rows could not be read (reference/lookupvit.md §7.2). Not measured
           here (no ImageNet and no GPU on the development machine).
Robustness: recipes/imagenet/robustness_{c,r,a,o}.py --checkpoint runs/imagenet_vit_b16.
"""
from mmlookup.config import DataCfg, EvalCfg, ModelCfg, OptimCfg, Recipe, TrainCfg


def get_recipe(arg: str = "") -> Recipe:
    if arg not in ("", "runlocal", "in21k"):
        raise ValueError(f"unknown recipe argument {arg!r}; valid: '', 'in21k', 'runlocal'")
    runlocal, in21k = arg == "runlocal", arg == "in21k"
    recipe = Recipe(
        name="imagenet_vit_b16",
        model=ModelCfg(encoder="vit_base", num_frames=1, img_size=224, tubelet_size=1, patch_size=16,
                       drop_path_rate=0.1, head_dropout=0.0),
        data=DataCfg(format="imagenet", root="data/imagenet", train_annotations="train", val_annotations="val",
                     short_side=256, rrc_scale=(0.08, 1.0), flip=True, randaugment=True, randaugment_ops=2,
                     randaugment_magnitude=9.0),
        optim=OptimCfg(lr=5e-4, lr_scale_batch=512, min_lr=1e-5, weight_decay=0.05, betas=(0.9, 0.999),
                       warmup_epochs=5.0),
        train=TrainCfg(epochs=300, batch_size=128, num_workers=10, precision="bf16", clip_grad=0.0,
                       label_smoothing=0.1, mixup_alpha=0.8, cutmix_alpha=1.0, mixup_prob=1.0,
                       output_dir="runs/imagenet_vit_b16", checkpoint_every=1, keep_last=2, eval_every=5,
                       log_every=100),
        eval=EvalCfg(num_clips=1, num_crops=1, batch_size=256, num_workers=10),
    )
    if in21k:  # fine-tune imported ImageNet-21k weights (ViT paper / timm augreg style schedule, not tuned here)
        recipe.name, recipe.train.output_dir = "imagenet_vit_b16_in21k", "runs/imagenet_vit_b16_in21k"
        recipe.model.pretrained = "weights/vit_b16_in21k.pth"
        recipe.optim.lr, recipe.optim.warmup_epochs, recipe.optim.layer_decay = 2.5e-4, 2.0, 0.65
        recipe.train.epochs, recipe.train.eval_every = 30, 1
    if runlocal:
        recipe.train.epochs, recipe.train.batch_size, recipe.train.max_steps = 1, 2, 4
        recipe.train.num_workers, recipe.eval.batch_size, recipe.eval.num_workers = 2, 4, 2
        recipe.train.output_dir += "_runlocal"
    return recipe
