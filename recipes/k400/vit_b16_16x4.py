"""Plain video ViT-B/16 (joint space-time attention over 2x16x16 tubelets).
Kinetics-400, 16 frames x interval 4, 224x224, fine-tuning recipe after VideoMAE ViT-B (video_anchors.md §3a).

Command:   accelerate launch --multi_gpu --num_processes 8 -m mmlookup.train recipes/k400/vit_b16_16x4.py \
               --set model.pretrained=PATH/TO/PRETRAINED.pth --set data.root=PATH/TO/kinetics400
           (tiny local check: mmlookup train recipes/k400/vit_b16_16x4.py:runlocal --set data.root=...)
Hardware:  8 GPUs (80 GB), bf16; per GPU batch 12 x accumulation 4 = global batch 384, as VideoMAE.
Test:      5 clips x 3 crops, short side 224.
Expected:  81.5 top-1 / 95.1 top-5 for ViT-B with VideoMAE K400 pre-training
           (1600 epochs), 180 GFLOPs x 5 x 3 views (MCG-NJU/VideoMAE MODEL_ZOO.md); 79.9 for ViViT-B/16x2 from IN-21K.
"""
from mmlookup.config import DataCfg, EvalCfg, ModelCfg, OptimCfg, Recipe, TrainCfg


def get_recipe(arg: str = "") -> Recipe:
    runlocal = arg == "runlocal"
    return Recipe(
        name="k400_vit_b16_16x4",
        model=ModelCfg(encoder="vit_base", num_frames=16, img_size=224, tubelet_size=2, patch_size=16,
                       drop_path_rate=0.1, head_dropout=0.0, grad_checkpointing=False),
        data=DataCfg(format="k400", root="data/kinetics400", train_annotations="train.csv",
                     val_annotations="validate.csv", frame_interval=4, sampling="dense", short_side=224,
                     rrc_scale=(0.08, 1.0), flip=True, randaugment=True),
        optim=OptimCfg(lr=5e-4, lr_scale_batch=256, min_lr=1e-6, weight_decay=0.05, betas=(0.9, 0.999),
                       warmup_epochs=5.0, layer_decay=0.75),
        train=TrainCfg(epochs=2 if runlocal else 75, batch_size=2 if runlocal else 12, accum_steps=1 if runlocal else 4,
                       max_steps=4 if runlocal else 0, num_workers=2 if runlocal else 10, precision="bf16",
                       clip_grad=0.0, label_smoothing=0.1, mixup_alpha=0.8, cutmix_alpha=1.0, mixup_prob=1.0,
                       output_dir="runs/k400_vit_b16_16x4", checkpoint_every=1, keep_last=2, eval_every=5,
                       log_every=50),
        eval=EvalCfg(num_clips=1 if runlocal else 5, num_crops=1 if runlocal else 3, batch_size=4, num_workers=8),
    )
