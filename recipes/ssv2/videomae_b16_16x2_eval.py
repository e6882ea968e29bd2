"""Evaluate an imported VideoMAE ViT-B/16 Something-Something v2 classifier (no training): 16 frames by segment
sampling, 224x224.

The checkpoint is a Hugging Face folder as `save_pretrained` writes it (config.json + model.safetensors), e.g.
MCG-NJU/videomae-base-finetuned-ssv2 saved on a connected machine (README "Pretrained video models"); encoder and
classifier (174 classes, mean pooling -> fc_norm -> linear) come from it as in recipes/k400/videomae_b16_16x4_eval.py.
Class indices are those of SSv2's labels.json, as the checkpoint's.

Command:   mmlookup eval recipes/ssv2/videomae_b16_16x2_eval.py \
               --set model.pretrained=PATH/TO/videomae-base-finetuned-ssv2 --set data.root=PATH/TO/ssv2
Hardware:  1 GPU (24 GB is plenty), bf16.
Test:      2 clips x 3 crops, short side 224 (VideoMAE's protocol).
Expected:  70.8 top-1 / 92.4 top-5 as published for this checkpoint (VideoMAE paper and MCG-NJU/VideoMAE
           MODEL_ZOO.md); NOT measured here (no SSv2 copy or GPU on the machines this project is built on).
"""
from mmlookup.config import Recipe, derive, sibling_recipe

VIDEOMAE_B = dict(class_token=False, pos_embed="sincos", qkv_bias="qv", norm_eps=1e-12, final_norm=False)


def get_recipe(arg: str = "") -> Recipe:
    # clip geometry, data and test views (2x3) of the SSv2 ViT-B recipe; the architecture of VideoMAE-B
    return derive(sibling_recipe(__file__, "vit_b16_16x2.py", arg), {
        "name": "ssv2_videomae_b16_16x2_eval",
        "train.output_dir": "runs/ssv2_videomae_b16_16x2_eval",
        "model.encoder": "vit_base",
        "model.encoder_kwargs": VIDEOMAE_B,
        "model.drop_path_rate": 0.0,
        "eval.batch_size": 2 if arg == "runlocal" else 8,
    })
