"""EViT on the ViT-B/16 video backbone: keep rate 0.7 at layers 3, 6, 9 (inattentive tokens fused), with the
           keep-rate warm-up (1.0 for 5 epochs, then cosine down to 0.7 over 10).
Kinetics-400, 16 frames x interval 4, 224x224, fine-tuning recipe after VideoMAE ViT-B (video_anchors.md §3a).

Command:   accelerate launch --multi_gpu --num_processes 8 -m mmlookup.train recipes/k400/evit_b16_16x4.py \
               --set model.pretrained=PATH/TO/PRETRAINED.pth data.root=PATH/TO/kinetics400
           (tiny local check: mmlookup train recipes/k400/evit_b16_16x4.py:runlocal --set data.root=...)
Hardware:  8 GPUs (80 GB), bf16; per GPU batch 12 x accumulation 4 = global batch 384, as VideoMAE.
Test:      5 clips x 3 crops, short side 224.
Expected:  no published K400 number for EViT on video; the ViT-B row (81.5) is the upper reference, and the
           image results (EViT-DeiT-S, keep rate 0.7) lose ~0.3 top-1 for ~35% fewer FLOPs [recalled].
"""
from mmlookup.config import DataCfg, EvalCfg, ModelCfg, OptimCfg, Recipe, TrainCfg


def get_recipe(arg: str = "") -> Recipe:
    runlocal = arg == "runlocal"
    return Recipe(
        name="k400_evit_b16_16x4",
        model=ModelCfg(encoder="evit_base", num_frames=16, img_size=224, tubelet_size=2, patch_size=16,
                       drop_path_rate=0.1, head_dropout=0.0, keep_rate=0.7, grad_checkpointing=False),
        data=DataCfg(format="k400", root="data/kinetics400", train_annotations="train.csv",
                     val_annotations="validate.csv", frame_interval=4, sampling="dense", short_side=224,
                     rrc_scale=(0.08, 1.0), flip=True, randaugment=True),
        optim=OptimCfg(lr=5e-4, lr_scale_batch=256, min_lr=1e-6, weight_decay=0.05, betas=(0.9, 0.999),
                       warmup_epochs=5.0, layer_decay=0.75),
        train=TrainCfg(epochs=2 if runlocal else 75, batch_size=2 if runlocal else 12, accum_steps=1 if runlocal else 4,
                       max_steps=4 if runlocal else 0, num_workers=2 if runlocal else 10, precision="bf16",
                       clip_grad=0.0, label_smoothing=0.1, mixup_alpha=0.8, cutmix_alpha=1.0, mixup_prob=1.0,
                       keep_rate_warmup_epochs=5.0, keep_rate_ramp_epochs=10.0,
                       output_dir="runs/k400_evit_b16_16x4", checkpoint_every=1, keep_last=2, eval_every=5,
                       log_every=50),
        eval=EvalCfg(num_clips=1 if runlocal else 5, num_crops=1 if runlocal else 3, batch_size=4, num_workers=8),
    )
