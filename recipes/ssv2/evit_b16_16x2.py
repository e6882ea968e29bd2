"""EViT on the ViT-B/16 video backbone: keep rate 0.7 at layers 3, 6, 9 (inattentive tokens fused), with the
           keep-rate warm-up (1.0 for 5 epochs, then cosine down to 0.7 over 10).
Something-Something v2, 16 frames by segment sampling, 224x224, fine-tuning recipe after VideoMAE ViT-B
(video_anchors.md §3a). No horizontal flip: it would swap "left to right" and "right to left" classes.

Command:   accelerate launch --multi_gpu --num_processes 8 -m mmlookup.train recipes/ssv2/evit_b16_16x2.py \
               --set model.pretrained=PATH/TO/PRETRAINED.pth data.root=PATH/TO/ssv2
           (tiny local check: mmlookup train recipes/ssv2/evit_b16_16x2.py:runlocal --set data.root=...)
Hardware:  8 GPUs (80 GB), bf16; per GPU batch 12 x accumulation 4 = global batch 384, as VideoMAE.
Test:      2 clips x 3 crops, short side 224.
Expected:  no published SSv2 number for EViT on video; ViT-B at 70.8 is the upper reference.
"""
from mmlookup.config import DataCfg, EvalCfg, ModelCfg, OptimCfg, Recipe, TrainCfg


def get_recipe(arg: str = "") -> Recipe:
    runlocal = arg == "runlocal"
    return Recipe(
        name="ssv2_evit_b16_16x2",
        model=ModelCfg(encoder="evit_base", num_frames=16, img_size=224, tubelet_size=2, patch_size=16,
                       drop_path_rate=0.1, head_dropout=0.0, keep_rate=0.7, grad_checkpointing=False),
        data=DataCfg(format="ssv2", root="data/ssv2", train_annotations="train.json",
                     val_annotations="validation.json", labels_file="labels.json", frame_interval=2,
                     sampling="segment", short_side=224, rrc_scale=(0.08, 1.0), flip=False, randaugment=True),
        optim=OptimCfg(lr=5e-4, lr_scale_batch=256, min_lr=1e-6, weight_decay=0.05, betas=(0.9, 0.999),
                       warmup_epochs=5.0, layer_decay=0.75),
        train=TrainCfg(epochs=2 if runlocal else 30, batch_size=2 if runlocal else 12, accum_steps=1 if runlocal else 4,
                       max_steps=4 if runlocal else 0, num_workers=2 if runlocal else 10, precision="bf16",
                       clip_grad=0.0, label_smoothing=0.1, mixup_alpha=0.8, cutmix_alpha=1.0, mixup_prob=1.0,
                       keep_rate_warmup_epochs=5.0, keep_rate_ramp_epochs=10.0,
                       output_dir="runs/ssv2_evit_b16_16x2", checkpoint_every=1, keep_last=2, eval_every=5,
                       log_every=50),
        eval=EvalCfg(num_clips=1 if runlocal else 2, num_crops=1 if runlocal else 3, batch_size=4, num_workers=8),
    )
